// The floor for any FFI library in this runtime: the same syscalls as the
// fdpass rows, made straight through bun:ffi or Deno.dlopen with one msghdr
// built up front, no checks, no objects, no errors read. fdpass's rows sit
// between this and C; the gap from C to this row is the runtime's own FFI
// and JIT cost, which no library can remove.
//
// Usage: <runtime> raw_ffi.ts sync <pairs> <pairs_253>
//        <runtime> raw_ffi.ts pingpong <path> <warmup> <rounds>
//        <runtime> raw_ffi.ts pingpong-await <path> <warmup> <rounds>
// The ping-pong client never blocks in recvmsg (an async library cannot hold
// the event loop): MSG_DONTWAIT, and sched_yield before each receive, as
// fdpass does after a receive that had to wait. `pingpong-await` is the same
// loop with one `await` of an already-resolved promise after every syscall:
// what any promise-returning API pays at the least, before its own work.
// Output: as sync.ts ({fd1_64, nofd_64, nofd_4k, fd253_64}) or as
// pingpong.ts ({rtt_ns: [...]}).

// deno-lint-ignore-file no-explicit-any
import process from "node:process";
type Call = (...args: any[]) => any;
type Symbols = Record<keyof typeof DEFS, Call>;

const deno = (globalThis as { Deno?: any }).Deno;
const args: string[] = deno?.args ?? process.argv.slice(2);

const DEFS = {
  socket: [["i32", "i32", "i32"], "i32"],
  socketpair: [["i32", "i32", "i32", "buffer"], "i32"],
  connect: [["i32", "buffer", "u32"], "i32"],
  sendmsg: [["i32", "buffer", "i32"], "i64"],
  recvmsg: [["i32", "buffer", "i32"], "i64"],
  close: [["i32"], "i32"],
  open: [["buffer", "i32"], "i32"],
  sched_yield: [[], "i32"],
} as const;

async function bind(): Promise<
  { s: Symbols; address: (b: Uint8Array) => bigint }
> {
  if ("Bun" in globalThis) {
    const ffi = await import("bun:ffi");
    const defs: Record<string, { args: string[]; returns: string }> = {};
    for (const [name, [p, r]] of Object.entries(DEFS)) {
      defs[name] = {
        args: p.map((t) => (t === "buffer" ? "ptr" : t)),
        returns: r,
      };
    }
    const lib = ffi.dlopen("libc.so.6", defs as any);
    return {
      s: lib.symbols as unknown as Symbols,
      address: (b) => BigInt(ffi.ptr(b)),
    };
  }
  const defs: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, [p, r]] of Object.entries(DEFS)) {
    defs[name] = { parameters: [...p], result: r };
  }
  const lib = deno.dlopen("libc.so.6", defs);
  return {
    s: lib.symbols,
    address: (b) => BigInt(deno.UnsafePointer.value(deno.UnsafePointer.of(b))),
  };
}

const { s, address } = await bind();
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;

interface Message {
  bytes: Uint8Array;
  words: BigUint64Array;
  i32: Int32Array;
  controlBytes: number;
  data: Uint8Array;
}

/** A msghdr (56 B) + iovec (16 B) + control buffer, all in one allocation. */
function message(data: Uint8Array, maxFds: number): Message {
  const controlBytes = maxFds === 0 ? 0 : 16 + ((4 * maxFds + 7) & ~7);
  const bytes = new Uint8Array(72 + controlBytes);
  const words = new BigUint64Array(bytes.buffer);
  const base = address(bytes);
  words[2] = base + 56n; // msg_iov
  words[3] = 1n; // msg_iovlen
  words[7] = address(data); // iov_base
  words[8] = BigInt(data.length); // iov_len
  if (controlBytes > 0) words[4] = base + 72n; // msg_control
  const i32 = new Int32Array(bytes.buffer);
  return { bytes, words, i32, controlBytes, data };
}

function rights(m: Message, fd: number, count: number): void {
  m.words[5] = BigInt(m.controlBytes);
  m.words[9] = BigInt(16 + 4 * count); // cmsg_len
  m.i32[20] = 1; // SOL_SOCKET
  m.i32[21] = 1; // SCM_RIGHTS
  for (let i = 0; i < count; i++) m.i32[22 + i] = fd;
}

const devnull = s.open(new TextEncoder().encode("/dev/null\0"), 0) as number;

if (args[0] === "sync") {
  const pairs = Number(args[1] ?? 100000);
  const pairs253 = Number(args[2] ?? 5000);
  const fds = new Int32Array(2);
  s.socketpair(1, 1 | 0o2000000, 0, new Uint8Array(fds.buffer));
  const [tx, rx] = [fds[0]!, fds[1]!];
  const run = (size: number, count: number, n: number): number => {
    const out = message(new Uint8Array(size).fill(0x78), count);
    const into = message(new Uint8Array(size), count);
    if (count > 0) rights(out, devnull, count);
    const loop = (k: number): void => {
      for (let i = 0; i < k; i++) {
        s.sendmsg(tx, out.bytes, MSG_NOSIGNAL);
        let got = 0;
        while (got < size) {
          into.words[5] = BigInt(into.controlBytes);
          got += Number(s.recvmsg(rx, into.bytes, MSG_CMSG_CLOEXEC));
          if (into.words[5]! > 0n) {
            const received = (Number(into.words[9]!) - 16) >> 2;
            for (let j = 0; j < received; j++) s.close(into.i32[22 + j]!);
          }
        }
      }
    };
    loop(Math.floor(n / 10) + 1);
    const t0 = performance.now();
    loop(n);
    return Math.round(((performance.now() - t0) * 1e7) / n) / 10;
  };
  console.log(JSON.stringify({
    fd1_64: run(64, 1, pairs),
    nofd_64: run(64, 0, pairs),
    nofd_4k: run(4096, 0, pairs),
    fd253_64: run(64, 253, pairs253),
  }));
} else if (args[0] === "pingpong" || args[0] === "pingpong-await") {
  const awaiting = args[0] === "pingpong-await";
  const resolved = Promise.resolve();
  const path = new TextEncoder().encode(args[1]!);
  const warm = Number(args[2]);
  const rounds = Number(args[3]);
  const fd = s.socket(1, 1 | 0o2000000, 0) as number;
  const address = new Uint8Array(110);
  address[0] = 1; // AF_UNIX
  address.set(path, 2);
  if (s.connect(fd, address, 2 + path.length + 1) !== 0) {
    throw new Error("connect failed");
  }
  const out = message(new Uint8Array(64).fill(0x70), 1);
  const into = message(new Uint8Array(64), 1);
  rights(out, devnull, 1);
  const rtt: number[] = [];
  let cpu0 = process.cpuUsage();
  for (let i = 0; i < warm + rounds; i++) {
    if (i === warm) cpu0 = process.cpuUsage();
    const t0 = performance.now();
    s.sendmsg(fd, out.bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (awaiting) await resolved;
    let got = 0;
    while (got < 64) {
      s.sched_yield();
      into.words[5] = BigInt(into.controlBytes);
      const r = Number(
        s.recvmsg(fd, into.bytes, MSG_CMSG_CLOEXEC | MSG_DONTWAIT),
      );
      if (awaiting) await resolved;
      if (r < 0) continue;
      if (into.words[5]! > 0n) s.close(into.i32[22]!);
      got += r;
    }
    if (i >= warm) rtt.push(Math.round((performance.now() - t0) * 1e6));
  }
  const cpu = process.cpuUsage(cpu0);
  const cpu_ns = (cpu.user + cpu.system) * 1000;
  s.close(fd);
  console.log(JSON.stringify({ cpu_ns, rtt_ns: rtt }));
} else {
  console.error(
    "usage: raw_ffi.ts sync <pairs> <pairs_253> | pingpong <path> <warmup> <rounds>",
  );
  process.exit(2);
}

export {};
