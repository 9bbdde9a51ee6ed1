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
import {
  connectStream,
  openDevNull,
  rawPingPong,
  rawStreamPair,
  rawSyncLoop,
  s,
} from "./_raw.ts";

const deno = (globalThis as { Deno?: any }).Deno;
const args: string[] = deno?.args ?? process.argv.slice(2);

const devnull = openDevNull();

if (args[0] === "sync") {
  const pairs = Number(args[1] ?? 100000);
  const pairs253 = Number(args[2] ?? 5000);
  const [tx, rx] = rawStreamPair();
  const run = (size: number, count: number, n: number): number => {
    const loop = rawSyncLoop(tx, rx, devnull, size, count);
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
  const warm = Number(args[2]);
  const rounds = Number(args[3]);
  const fd = connectStream(args[1]!);
  const roundTrips = rawPingPong(fd, devnull, args[0] === "pingpong-await");
  await roundTrips(warm);
  const rtt: number[] = [];
  const cpu0 = process.cpuUsage();
  await roundTrips(rounds, rtt);
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
