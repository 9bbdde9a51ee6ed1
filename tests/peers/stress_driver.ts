/**
 * The parent side of the randomized stress run (`stress_plan.ts`), shared by
 * `tests/stress_test.ts` (a few hundred messages) and `scripts/stress.ts`
 * (10⁴). Starts `stress_child.ts` under Bun or Deno (`--allow-ffi` only),
 * hands it one end of a stream, a datagram and a seqpacket socket pair over
 * a control connection, and runs the steps. After every step it checks:
 * the reply's tokens (read by the child through each fd) and the inode of
 * every echoed fd match what was sent, in order, none twice, none missing;
 * its own fd table equals its baseline; and the child's fd table, read from
 * outside through /proc/<pid>/fd, equals the child's baseline, in every fd
 * fdpass could own (sockets, pipes, anonymous inodes: the runtimes open
 * files of their own at any moment).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import {
  listen,
  type OwnedFd,
  pipe,
  socketPair,
  type UnixSocket,
} from "../../mod.ts";
import { settleRuntime, warmReactor } from "./fault_common.ts";
import { abstractName, BIN, inodeOf, openFds, ROOT } from "../_helpers.ts";
import {
  between,
  HEADER,
  KINDS,
  planStep,
  random,
  receiveFrame,
  REPLY,
  requestBytes,
  split,
  TOKEN,
  token,
} from "./stress_plan.ts";

/** Options of {@linkcode runStress}. */
export interface StressOptions {
  /** The child's runtime. */
  child: "bun" | "deno";
  messages: number;
  seed: number;
  /** Longest wait for any one step (default 60 s). */
  stepTimeoutMs?: number;
  /** Called every `progressEvery` steps. */
  progress?: (done: number) => void;
  progressEvery?: number;
}

/** What a run did. */
export interface StressFigures {
  child: "bun" | "deno";
  seed: number;
  messages: number;
  /** Fds sent to the child, each echoed back and checked both ways. */
  fds: number;
  bytes: number;
  byKind: Record<string, number>;
  asyncSteps: number;
  truncated: number;
  empty: number;
  maxFdSteps: number;
  /** Receive calls the child made (stream reads split frames). */
  childReads: number;
  /** Fd-table comparisons of the child, one per step plus the baseline. */
  childFdChecks: number;
  durationMs: number;
}

/** The fds of process `pid` as /proc shows them (the parent may read them). */
export function fdsOf(pid: number | "self"): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return out;
}

/**
 * Whether an fd with this /proc target could be fdpass's: fdpass creates
 * only sockets, pipes and anonymous inodes (its reactor's epoll and
 * eventfd), never a path. The runtime opens files of its own at any moment
 * (Bun reads /proc/self/statm), which must not read as a leak.
 */
export function fdpassKind(target: string | undefined): boolean {
  return target !== undefined &&
    (target.startsWith("socket:") || target.startsWith("pipe:") ||
      target.startsWith("anon_inode:"));
}

/**
 * The fds of `table` that belong to a reactor (fdpass's or the runtime's
 * own): epoll and eventfd instances, and pipes whose two ends this one
 * process holds (a reactor's wake pipe). fdpass's reactor opens them on the
 * first wait and closes them once no descriptor that waited is open, so they
 * come and go between steps by design. The stress protocol never leaves
 * both ends of a passed pipe, an epoll or an eventfd in one process at a
 * check, so nothing it moves is hidden by this.
 */
export function reactorFds(table: Map<number, string>): Set<number> {
  const ends = new Map<string, number>();
  for (const target of table.values()) {
    if (target.startsWith("pipe:")) {
      ends.set(target, (ends.get(target) ?? 0) + 1);
    }
  }
  const out = new Set<number>();
  for (const [fd, target] of table) {
    if (
      target === "anon_inode:[eventpoll]" ||
      target === "anon_inode:[eventfd]" ||
      (ends.get(target) ?? 0) >= 2
    ) out.add(fd);
  }
  return out;
}

/**
 * Describes how `now` differs from `before` in the fds fdpass could have
 * opened or closed (see {@linkcode fdpassKind}), leaving out reactors' own
 * (see {@linkcode reactorFds}), or "" when it does not.
 */
export function fdDiff(
  before: Map<number, string>,
  now: Map<number, string>,
): string {
  const out: string[] = [];
  const skipBefore = reactorFds(before);
  const skipNow = reactorFds(now);
  for (const [fd, target] of now) {
    if (skipNow.has(fd)) continue;
    const was = skipBefore.has(fd) ? undefined : before.get(fd);
    if (was !== target && (fdpassKind(target) || fdpassKind(was))) {
      out.push(`+${fd} -> ${target}`);
    }
  }
  for (const [fd, target] of before) {
    if (skipBefore.has(fd)) continue;
    const is = skipNow.has(fd) ? undefined : now.get(fd);
    if (is !== target && (fdpassKind(target) || fdpassKind(is))) {
      out.push(`-${fd} -> ${target}`);
    }
  }
  return out.join(", ");
}

/**
 * The fds of a socket pair that appeared in `now` (both ends new, inodes n
 * and n + 1, as socketpair(2) makes them), or `[]`. A Deno child opens one
 * of its own some time after it starts (with signal handlers and a thread:
 * about 0.6 s natively, and under qemu on a loaded machine later than the
 * seconds `settleRuntime` waits). fdpass never makes a socket pair in the
 * stress child, whose steps move only pipes, so a new pair there is the
 * runtime's; the driver accepts one per child into its baseline.
 */
export function newSocketPair(
  before: Map<number, string>,
  now: Map<number, string>,
): number[] {
  const fresh = new Map<number, number>();
  for (const [fd, target] of now) {
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match !== null && before.get(fd) !== target) {
      fresh.set(Number(match[1]), fd);
    }
  }
  for (const [inode, fd] of fresh) {
    const other = fresh.get(inode + 1);
    if (other !== undefined) return [fd, other];
  }
  return [];
}

/** Runs one stress session against a child; throws on the first mismatch. */
export async function runStress(
  options: StressOptions,
): Promise<StressFigures> {
  const started = performance.now();
  const { seed, messages } = options;
  const stepTimeout = options.stepTimeoutMs ?? 60_000;
  const name = abstractName("stress");
  const script = join(ROOT, "tests/peers/stress_child.ts");
  // argv cannot carry a NUL: the child puts the abstract prefix back.
  const args = [name.slice(1), String(seed), String(messages)];
  using listener = listen(name);
  const child = options.child === "bun"
    ? spawn(BIN.bun, [script, ...args], { cwd: ROOT })
    : spawn(BIN.deno, [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-ffi",
      script,
      ...args,
    ], { cwd: ROOT });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => stdout += s);
  child.stderr.setEncoding("utf8").on("data", (s: string) => stderr += s);
  const exited = new Promise<number | null>((resolve) => {
    child.on("close", (code) => resolve(code));
  });
  const pairs: [UnixSocket, UnixSocket][] = [];
  let control: UnixSocket | undefined;
  const figures: StressFigures = {
    child: options.child,
    seed,
    messages,
    fds: 0,
    bytes: 0,
    byKind: { stream: 0, dgram: 0, seqpacket: 0 },
    asyncSteps: 0,
    truncated: 0,
    empty: 0,
    maxFdSteps: 0,
    childReads: 0,
    childFdChecks: 0,
    durationMs: 0,
  };
  const fail = (message: string): Error =>
    new Error(`${message}\nchild stderr:\n${stderr}`);
  const byte = new Uint8Array(1);
  // Rejects when the child exits before the parent expects it to.
  const died: Promise<never> = exited.then((code) => {
    throw fail(`the child exited early (${code})`);
  });
  died.catch(() => {});
  const orDeath = <T>(promise: Promise<T>): Promise<T> => {
    promise.catch(() => {});
    return Promise.race([promise, died]);
  };
  /** Waits for the child's one-byte note on the control socket. */
  const note = async (what: string): Promise<void> => {
    const r = await orDeath(
      control!.receive(byte, { signal: AbortSignal.timeout(stepTimeout) }),
    );
    if (r.eof) throw fail(`the child closed the control socket (${what})`);
  };
  try {
    control = await orDeath(
      listener.accept({ signal: AbortSignal.timeout(stepTimeout) }),
    );
    for (const kind of KINDS) pairs.push(socketPair(kind));
    control.sendSync(new Uint8Array([3]), pairs.map(([, theirs]) => theirs.fd));
    for (const [, theirs] of pairs) theirs.close();
    const hello = new Uint8Array(4);
    const r = await orDeath(
      control.receive(hello, { signal: AbortSignal.timeout(stepTimeout) }),
    );
    if (r.bytes !== 4) throw fail("the child did not report its pid");
    const pid = new DataView(hello.buffer).getUint32(0, true);
    await warmReactor();
    await settleRuntime();
    const childBaseline = fdsOf(pid);
    let runtimePairSeen = false;
    figures.childFdChecks++;
    const ownBaseline = openFds();
    const scratch = new Uint8Array(400_000);
    for (let seq = 0; seq < messages; seq++) {
      const step = planStep(seed, seq);
      const socket = pairs[KINDS.indexOf(step.kind)]![0];
      const rng = random(seed * 13 + seq);
      const sent: OwnedFd[] = [];
      const inodes: string[] = [];
      try {
        for (let i = 0; i < step.fds; i++) {
          const [readEnd, writeEnd] = pipe();
          sent.push(readEnd);
          try {
            writeEnd.writeSync(token(seq, i));
          } finally {
            writeEnd.close();
          }
          inodes.push(inodeOf(readEnd.fd));
        }
        const data = split(rng, requestBytes(step));
        const bytes = step.parentAsync
          ? await socket.send(data, sent)
          : socket.sendSync(data, sent);
        if (bytes !== step.total) {
          throw fail(`step ${seq}: sent ${bytes} of ${step.total} bytes`);
        }
        await note(`step ${seq}`);
        const total = HEADER + TOKEN * step.fds;
        const frame = await receiveFrame(socket, {
          total,
          fds: step.fds,
          bufferSize: total + between(rng, 0, 512),
          async: step.parentAsync,
          rng,
          scratch,
        });
        try {
          checkReply(seq, step.fds, frame.data, frame.fds, inodes, sent);
        } finally {
          for (const fd of frame.fds) fd.close();
        }
      } finally {
        for (const fd of sent) fd.close();
      }
      const childNow = fdsOf(pid);
      let childDiff = fdDiff(childBaseline, childNow);
      if (childDiff !== "" && !runtimePairSeen) {
        const pair = newSocketPair(childBaseline, childNow);
        if (pair.length === 2) {
          runtimePairSeen = true;
          for (const fd of pair) childBaseline.set(fd, childNow.get(fd)!);
          childDiff = fdDiff(childBaseline, childNow);
        }
      }
      figures.childFdChecks++;
      if (childDiff !== "") {
        throw fail(
          `step ${seq} (${step.kind}): the child's fds changed: ${childDiff}`,
        );
      }
      const ownDiff = fdDiff(ownBaseline, openFds());
      if (ownDiff !== "") {
        throw fail(
          `step ${seq} (${step.kind}): the parent's fds changed: ${ownDiff}`,
        );
      }
      figures.fds += step.fds;
      figures.bytes += step.total;
      figures.byKind[step.kind]!++;
      if (step.parentAsync) figures.asyncSteps++;
      if (step.truncateTo > 0) figures.truncated++;
      if (step.empty) figures.empty++;
      if (step.fds === 253) figures.maxFdSteps++;
      if (
        options.progress && (seq + 1) % (options.progressEvery ?? 1000) === 0
      ) {
        options.progress(seq + 1);
      }
    }
    control.sendSync(new Uint8Array([0x51]));
    const code = await exited;
    if (code !== 0) throw fail(`the child exited with ${code}`);
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      messages: number;
      fdsChecked: number;
      truncations: number;
      reads: number;
    };
    if (summary.messages !== messages || summary.fdsChecked !== figures.fds) {
      throw fail(`the child's summary disagrees: ${stdout}`);
    }
    figures.childReads = summary.reads;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
    }
    await exited;
    control?.close();
    for (const pair of pairs) for (const socket of pair) socket.close();
  }
  figures.durationMs = Math.round(performance.now() - started);
  return figures;
}

function checkReply(
  seq: number,
  count: number,
  data: Uint8Array,
  echoed: readonly OwnedFd[],
  inodes: readonly string[],
  sent: readonly OwnedFd[],
): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (
    data.length !== HEADER + TOKEN * count ||
    view.getUint32(0, true) !== REPLY || view.getUint32(4, true) !== seq ||
    view.getUint32(8, true) !== count
  ) {
    throw new Error(`step ${seq}: malformed reply (${data.length} bytes)`);
  }
  if (echoed.length !== count) {
    throw new Error(`step ${seq}: ${echoed.length} fds echoed, ${count} sent`);
  }
  const own = new Set(sent.map((fd) => fd.fd));
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const s = view.getUint32(HEADER + TOKEN * i, true);
    const index = view.getUint32(HEADER + TOKEN * i + 4, true);
    if (s !== seq || index !== i) {
      throw new Error(
        `step ${seq}: fd ${i} held the token of step ${s} pipe ${index}`,
      );
    }
    const fd = echoed[i]!.fd;
    if (own.has(fd) || seen.has(fd)) {
      throw new Error(`step ${seq}: fd number ${fd} delivered twice`);
    }
    seen.add(fd);
    const inode = inodeOf(fd);
    if (inode !== inodes[i]) {
      throw new Error(
        `step ${seq}: echoed fd ${i} is ${inode}, sent ${inodes[i]}`,
      );
    }
  }
}
