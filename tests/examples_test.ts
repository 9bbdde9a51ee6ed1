/**
 * Runs every example in examples/ (except the demo, which has its own
 * check) as a user would, and checks what it printed against what the
 * kernel and the processes involved report. The systemd fd store example
 * talks to a stand-in for systemd here: a datagram socket that receives its
 * notifications and descriptors, then restarts it with the stored
 * descriptor as fd 3, as systemd does.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  bind,
  connectTcp,
  listenTcp,
  type OwnedFd,
  SystemError,
  type UnixSocket,
} from "../mod.ts";
import {
  abstractName,
  available,
  BIN,
  EMULATED,
  noLeak,
  ROOT,
  run,
  type RunResult,
  RUNTIME,
  socketActivateMissing,
} from "./_helpers.ts";

const LONG = { timeout: 180_000 };
const TIMEOUT = { timeoutMs: 120_000 };

/** Fails with the whole output when a run did not exit 0. */
function expectSuccess(result: RunResult): string {
  assert.equal(
    result.code,
    0,
    `exit ${result.code} (${result.signal})\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

/** The first capture of `pattern` in `text`, or a failure showing `text`. */
function capture(text: string, pattern: RegExp): string {
  const match = pattern.exec(text);
  assert.ok(match?.[1] !== undefined, `${pattern} not in:\n${text}`);
  return match[1];
}

/** `deno run` with what the examples' fronts and drivers need. */
function denoRun(script: string, ...args: string[]): string[] {
  return [
    "run",
    "--allow-ffi",
    "--allow-run",
    "--allow-env",
    "--no-prompt",
    join(ROOT, script),
    ...args,
  ];
}

test(
  `broker: the Bun broker checks the sandboxed Deno tool's credentials and hands it read-only fds from its allowlist only (from ${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const out = expectSuccess(
        await run(BIN.bun, [join(ROOT, "examples/broker/broker.ts")], TIMEOUT),
      );
      const toolPid = capture(out, /\[deno tool\] pid (\d+)/);
      // The pid the broker got from the kernel is the tool's own.
      assert.match(
        out,
        new RegExp(
          `peer credentials from the kernel: pid ${toolPid}, uid ${
            process.getuid!()
          }, .*serving`,
        ),
      );
      assert.match(
        out,
        /cannot read \S+report\.txt by path: (NotCapable|PermissionDenied)/,
      );
      assert.match(
        out,
        /report\.txt through fd \d+: first line "revenue: 42"/,
      );
      assert.match(out, /writing through it fails with EBADF/);
      assert.match(out, /\[deno tool\] secrets\.txt: refused/);
      assert.match(out, /\[deno tool\] \.\.\/\.\.\/etc\/passwd: refused/);
      assert.doesNotMatch(out, /the tool must never see this/);
      assert.match(out, /served 1, refused 2; tool exited with code 0/);
    });
  },
);

test(
  `shared_memory: Deno reads from a sealed memfd what Bun wrote into its mapping, and answers through the same pages (from ${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const out = expectSuccess(
        await run(
          BIN.bun,
          [join(ROOT, "examples/shared_memory/bun_side.ts")],
          TIMEOUT,
        ),
      );
      const written = capture(out, /\[bun\] wrote .* checksum (\d+)/);
      const seen = capture(
        out,
        /\[deno\] checksum of \d+ bytes read from the shared file: (\d+)/,
      );
      assert.equal(seen, written);
      // Bun read Deno's answer out of its own mapping.
      assert.match(
        out,
        new RegExp(
          `\\[bun\\] read from the shared memory: "Deno \\(pid \\d+\\) saw checksum ${written} in the shared file"`,
        ),
      );
      const socketBytes = Number(
        capture(out, /bytes through the socket: (\d+); bytes shared: 1048576/),
      );
      assert.ok(socketBytes < 100, `${socketBytes} bytes through the socket`);
    });
  },
);

for (const front of ["bun", "deno"] as const) {
  test(
    `handoff: a ${front} front passes each accepted connection to a Bun or a Deno worker, which serves it (from ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const script = join(ROOT, "examples/handoff/front.ts");
        const result = front === "bun"
          ? await run(BIN.bun, [script], TIMEOUT)
          : await run(BIN.deno, denoRun("examples/handoff/front.ts"), TIMEOUT);
        const out = expectSuccess(result);
        const frontPid = capture(out, /front pid (\d+)/);
        const workers = new Map<string, string>();
        for (
          const [, runtime, pid] of out.matchAll(
            /(\w+) worker ready, pid (\d+)/g,
          )
        ) {
          workers.set(pid!, runtime!);
        }
        assert.deepEqual([...workers.values()].sort(), ["bun", "deno"]);
        const servedBy = new Set<string>();
        for (let n = 1; n <= 6; n++) {
          const line = capture(out, new RegExp(`\\[client ${n}\\] (.*)`));
          const [, runtime, pid] =
            /served by the (\w+) worker \(pid (\d+)\)/.exec(line) ?? [];
          assert.equal(workers.get(pid!), runtime, line);
          assert.notEqual(pid, frontPid);
          assert.match(line, new RegExp(`you said "hello from client ${n}"`));
          servedBy.add(pid!);
        }
        assert.equal(servedBy.size, 2, "both workers served connections");
        assert.match(out, /workers exited with 0, 0/);
      });
    },
  );
}

// --- systemd's fd store, against a stand-in for systemd ------------------------

/** One notification datagram as systemd would see it. */
interface Notification {
  fields: Map<string, string>;
  fds: OwnedFd[];
  pid: number | undefined;
}

/** Takes every queued datagram (the service has exited). */
function drain(receiver: UnixSocket): Notification[] {
  const out: Notification[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    try {
      const r = receiver.receiveSync(buffer, { nonblocking: true });
      const text = new TextDecoder().decode(buffer.subarray(0, r.bytes));
      out.push({
        fields: new Map(
          text.split("\n").filter((l) => l !== "").map((line) => {
            const at = line.indexOf("=");
            return [line.slice(0, at), line.slice(at + 1)] as [string, string];
          }),
        ),
        fds: r.fds,
        pid: r.credentials?.pid,
      });
    } catch (error) {
      if (error instanceof SystemError && error.code === "EAGAIN") return out;
      throw error;
    }
  }
}

/**
 * Starts the service as systemd would: `NOTIFY_SOCKET` set, and the stored
 * descriptors (if any) as fds 3.., with `LISTEN_FDS`, `LISTEN_FDNAMES` and a
 * `LISTEN_PID` that a shell sets to its own pid before exec'ing the service.
 */
function startService(
  runtime: "bun" | "deno",
  notifySocket: string,
  stored: readonly { name: string; fd: OwnedFd }[],
): Promise<RunResult> {
  const script = join(ROOT, "examples/systemd_fdstore/service.ts");
  const command = runtime === "bun" ? [BIN.bun, script] : [
    BIN.deno,
    "run",
    "--allow-ffi",
    "--allow-env=NOTIFY_SOCKET,LISTEN_PID,LISTEN_FDS,LISTEN_FDNAMES",
    "--no-prompt",
    script,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(
      "/bin/sh",
      ["-c", 'LISTEN_PID=$$ exec "$@"', "sh", ...command],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NO_COLOR: "1",
          NOTIFY_SOCKET: notifySocket,
          LISTEN_FDS: String(stored.length),
          LISTEN_FDNAMES: stored.map((s) => s.name).join(":"),
        },
        stdio: ["ignore", "pipe", "pipe", ...stored.map((s) => s.fd.fd)],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => stdout += s);
    child.stderr!.setEncoding("utf8").on("data", (s: string) => stderr += s);
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

for (const runtime of ["bun", "deno"] as const) {
  for (const flavour of ["abstract", "path"] as const) {
    test(
      `systemd_fdstore: a ${runtime} service stores its state pipe with FDSTORE=1 on ${
        flavour === "abstract" ? "an abstract" : "a path"
      } NOTIFY_SOCKET and gets it back after a restart (from ${RUNTIME})`,
      LONG,
      async () => {
        await noLeak(async () => {
          const dir = flavour === "path"
            ? mkdtempSync(join(tmpdir(), "fdpass-notify-"))
            : undefined;
          const address = dir === undefined
            ? abstractName("notify")
            : join(dir, "notify");
          // systemd's side: a datagram socket that learns each sender's pid.
          using receiver = bind(address, { kind: "dgram" });
          receiver.receiveCredentials();
          const notifySocket = address.startsWith("\0")
            ? `@${address.slice(1)}`
            : address;
          const held: OwnedFd[] = [];
          try {
            // First start: nothing stored yet.
            const first = expectSuccess(
              await startService(runtime, notifySocket, []),
            );
            const firstPid = Number(
              capture(first, /pid (\d+), start number 1/),
            );
            const one = drain(receiver);
            for (const n of one) held.push(...n.fds);
            assert.deepEqual(
              one.map((n) => [...n.fields.keys()].join(",")),
              ["FDSTORE,FDNAME", "READY,STATUS"],
            );
            for (const n of one) assert.equal(n.pid, firstPid);
            assert.equal(one[0]!.fields.get("FDNAME"), "state");
            assert.equal(one[0]!.fds.length, 1);
            assert.equal(one[1]!.fds.length, 0);

            // Restart with the stored pipe as fd 3: the count goes on.
            const second = expectSuccess(
              await startService(runtime, notifySocket, [
                { name: "state", fd: one[0]!.fds[0]! },
              ]),
            );
            assert.match(second, /restored "starts=1" from the fd store/);
            const secondPid = Number(
              capture(second, /pid (\d+), start number 2/),
            );
            const two = drain(receiver);
            for (const n of two) held.push(...n.fds);
            assert.deepEqual(
              two.map((n) => [...n.fields.keys()].join(",")),
              ["FDSTOREREMOVE,FDNAME", "FDSTORE,FDNAME", "READY,STATUS"],
            );
            for (const n of two) assert.equal(n.pid, secondPid);
            // The newly stored descriptor works: it holds the new state.
            const stored = two[1]!.fds[0]!;
            const buffer = new Uint8Array(64);
            const n = stored.readSync(buffer);
            assert.equal(
              new TextDecoder().decode(buffer.subarray(0, n)),
              "starts=2\n",
            );
          } finally {
            for (const fd of held) fd.close();
            if (dir !== undefined) rmSync(dir, { recursive: true });
          }
        });
      },
    );
  }
}

// --- Using what you receive: TCP handoff, zero downtime, socket activation -----

/** A child whose stdout is watched line by line while it runs. */
interface Watched {
  /** Resolves with the first capture of `pattern` in stdout. */
  waitFor(pattern: RegExp): Promise<string>;
  done: Promise<RunResult>;
  pid: number;
}

function startWatched(command: string, args: readonly string[]): Watched {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: { pattern: RegExp; resolve: (s: string) => void }[] = [];
  const check = (): void => {
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(stdout);
      if (match?.[1] === undefined) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(match[1]);
    }
  };
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
    check();
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => stderr += s);
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    pid: child.pid!,
    done,
    waitFor: (pattern) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        done.then((r) =>
          reject(
            new Error(`exited before ${pattern}:\n${r.stdout}\n${r.stderr}`),
          )
        );
      }),
  };
}

interface HttpReply {
  status: number;
  length: number;
  body: string;
}

/** `count` requests from CPython's http.client, a new connection each. */
async function pythonRequests(
  port: string,
  count: number,
): Promise<HttpReply[]> {
  const result = await run("python3", [
    join(ROOT, "tests/peers/http_client.py"),
    port,
    String(count),
  ]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n").map((l) =>
    JSON.parse(l) as HttpReply
  );
}

const noPython = available("python3", ["--version"])
  ? false
  : "python3 is missing (the plain HTTP client)";

for (const front of ["bun", "deno"] as const) {
  test(
    `tcp_handoff: a ${front} front passes accepted TCP connections to a Bun and a Deno worker, which answer CPython's http.client over readable/writable (from ${RUNTIME})`,
    { ...LONG, skip: noPython },
    async () => {
      await noLeak(async () => {
        const script = "examples/tcp_handoff/front.ts";
        const child = front === "bun"
          ? startWatched(BIN.bun, [join(ROOT, script), "6"])
          : startWatched(BIN.deno, denoRun(script, "6"));
        const port = await child.waitFor(
          /listening on http:\/\/127\.0\.0\.1:(\d+)\//,
        );
        const replies = await pythonRequests(port, 6);
        const out = expectSuccess(await child.done);
        const workers = new Map<string, string>();
        for (
          const [, runtime, pid] of out.matchAll(
            /(\w+) worker ready, pid (\d+)/g,
          )
        ) {
          workers.set(pid!, runtime!);
        }
        assert.deepEqual([...workers.values()].sort(), ["bun", "deno"]);
        const servedBy = new Set<string>();
        replies.forEach((reply, i) => {
          assert.equal(reply.status, 200);
          assert.equal(
            reply.length,
            new TextEncoder().encode(reply.body).length,
          );
          const match = new RegExp(
            `^GET /request/${
              i + 1
            }: served by the (\\w+) worker \\(pid (\\d+)\\), connection ${
              i + 1
            } from port \\d+\\n$`,
          ).exec(reply.body);
          assert.ok(match, reply.body);
          assert.equal(workers.get(match[2]!), match[1]);
          servedBy.add(match[2]!);
        });
        assert.equal(servedBy.size, 2, "both workers served connections");
        assert.match(out, /workers exited with 0, 0/);
      });
    },
  );
}

/**
 * Under qemu-user every runtime start takes seconds: 3 hand-overs (4
 * generations) with 3 responses between them instead of 10 and 20.
 */
const HANDOVERS = EMULATED ? 3 : 10;
const handoverArgs = EMULATED ? ["3", "3"] : [];
if (EMULATED) {
  console.log(
    "[qemu] zero_downtime: 3 hand-overs instead of 10: each runtime start takes seconds under qemu-user",
  );
}

for (const driver of ["bun", "deno"] as const) {
  test(
    `zero_downtime: ${HANDOVERS} hand-overs of the listening socket between Bun and Deno servers, driven from ${driver}, lose no request (from ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const script = "examples/zero_downtime/restart.ts";
        const result = driver === "bun"
          ? await run(BIN.bun, [join(ROOT, script), ...handoverArgs], TIMEOUT)
          : await run(BIN.deno, denoRun(script, ...handoverArgs), TIMEOUT);
        const out = expectSuccess(result);
        const summary = capture(
          out,
          new RegExp(
            `(\\d+ requests through ${HANDOVERS} hand-overs: 0 failed, 0 refused; longest gap between responses [\\d.]+ ms)`,
          ),
        );
        console.log(`[zero_downtime, ${driver} driver] ${summary}`);
        assert.match(out, new RegExp(`served by ${HANDOVERS + 1} processes: `));
        assert.equal(out.match(/old one exited 0/g)?.length, HANDOVERS);
        assert.match(out, /last generation stopped by SIGTERM, exited 0/);
        // Every generation after the first took the socket from its predecessor.
        assert.equal(
          out.match(/\(inherited from the previous generation\)/g)?.length,
          HANDOVERS,
        );
      });
    },
  );
}

const noActivate = socketActivateMissing();

for (const runtime of ["bun", "deno"] as const) {
  test(
    `zero_downtime's server, socket-activated: systemd-socket-activate --listen=127.0.0.1:PORT starts a ${runtime} server (--allow-ffi only for Deno) that serves and stops on SIGTERM (from ${RUNTIME})`,
    { ...LONG, skip: noActivate || noPython },
    async () => {
      await noLeak(async () => {
        const server = join(ROOT, "examples/zero_downtime/server.ts");
        const command = runtime === "bun"
          ? [BIN.bun, server]
          : [BIN.deno, "run", "--allow-ffi", "--no-prompt", server];
        let port = "";
        let child: Watched | undefined;
        for (let attempt = 0; attempt < 3; attempt++) {
          // Free a moment ago; another attempt if someone took it since.
          const probe = listenTcp({ reuseAddress: false });
          port = String((probe.localAddress() as { port: number }).port);
          probe.close();
          child = startWatched("systemd-socket-activate", [
            `--listen=127.0.0.1:${port}`,
            "-E",
            "NO_COLOR=1",
            ...command,
          ]);
          const started = await Promise.race([
            child.done.then(() => false),
            new Promise<boolean>((resolve) => {
              const poll = setInterval(() => {
                const probeConnection = (() => {
                  try {
                    return connectTcp({ port: Number(port) });
                  } catch {
                    return undefined;
                  }
                })();
                if (probeConnection === undefined) return;
                probeConnection.close();
                clearInterval(poll);
                resolve(true);
              }, 20);
              child!.done.then(() => clearInterval(poll));
            }),
          ]);
          if (started) break;
        }
        // The probe connection made systemd-socket-activate exec the server
        // (same pid); the server answered it with 400 and goes on.
        const pid = await child!.waitFor(/"pid":(\d+)/);
        assert.equal(Number(pid), child!.pid, "exec'd in place: LISTEN_PID");
        const replies = await pythonRequests(port, 3);
        replies.forEach((reply, i) => {
          assert.equal(reply.status, 200);
          assert.equal(
            reply.body,
            `/request/${i + 1} served by ${runtime} pid ${pid}\n`,
          );
        });
        process.kill(child!.pid, "SIGTERM");
        const out = expectSuccess(await child!.done);
        assert.match(
          out,
          /accepting on 127\.0\.0\.1:\d+ \(passed by systemd\)/,
        );
        assert.match(out, /stops accepting: SIGTERM/);
        assert.match(out, /drained: served 3 requests, exiting/);
      });
    },
  );
}
