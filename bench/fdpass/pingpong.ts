// Async fdpass ping-pong client (Bun and Deno) against bench/c/echo_server:
// each round trip `await send(64 B, [fd])`, then `await receive()` until
// 64 B are in, closing the fd that came back.
// Usage: <runtime> pingpong.ts <path> <warmup> <rounds>
// Prints {"cpu_ns":N,"rtt_ns":[...]} (cpu_ns: user + system CPU time of
// the timed rounds, every thread of the process), or {"skip":"..."} if the async API is missing.
import { openSync } from "node:fs";
import process from "node:process";
import { connect } from "../../mod.ts";
import { fdpassPingPong } from "./_common.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  process.argv.slice(2);
const path = args[0]!;
const warm = Number(args[1]);
const rounds = Number(args[2]);

const sock = connect(path);
// deno-lint-ignore no-explicit-any
const s = sock as any;
if (typeof s.receive !== "function" || typeof s.send !== "function") {
  sock.close();
  console.log(JSON.stringify({ skip: "n/a (async API not available)" }));
} else {
  const devnull = openSync("/dev/null", "r");
  const roundTrips = fdpassPingPong(s, devnull);
  await roundTrips(warm);
  const rtt: number[] = [];
  const cpu0 = process.cpuUsage();
  await roundTrips(rounds, rtt);
  const cpu = process.cpuUsage(cpu0);
  sock.close();
  const cpu_ns = (cpu.user + cpu.system) * 1000;
  console.log(JSON.stringify({ cpu_ns, rtt_ns: rtt }));
}
