// The async ping-pong of pingpong.ts and its two floors (raw_ffi.ts's
// `pingpong` and `pingpong-await`) in ONE process, in alternating blocks,
// each against its own C echo server: the ratio of fdpass to the floor is
// then taken block by block, under the same CPU frequency, cache and
// scheduler state, instead of between processes run seconds apart (whose
// medians move by ±10 % on a shared VM). The warm-up lets V8 finish tiering
// (Deno's FFI calls take the slow path from its middle tier): this is the
// steady state.
//
// Usage: <runtime> pingpong_paired.ts <floor path> <await path> <fdpass path>
//        <warmup> <block> <blocks>
// Prints {"floor":[...],"await":[...],"fdpass":[...]} with, per block, the
// wall time per round trip in ns, and "*_cpu" twins with the CPU time (user
// + system, every thread) per round trip in ns.
import { openSync } from "node:fs";
import process from "node:process";
import { connect } from "../../mod.ts";
import { fdpassPingPong, intArg, scriptArgs } from "./_common.ts";
import { connectStream, openDevNull, rawPingPong } from "./_raw.ts";

const args = scriptArgs();
const [floorPath, awaitPath, fdpassPath] = args;
const warmup = intArg(args, 3, 40000);
const block = intArg(args, 4, 5000);
const blocks = intArg(args, 5, 15);

type Client = (rounds: number) => Promise<void>;

function rawClient(path: string, awaiting: boolean): Client {
  return rawPingPong(connectStream(path), openDevNull(), awaiting);
}

function fdpassClient(path: string): Client {
  return fdpassPingPong(connect(path), openSync("/dev/null", "r"));
}

const clients: [string, Client][] = [
  ["floor", rawClient(floorPath!, false)],
  ["await", rawClient(awaitPath!, true)],
  ["fdpass", fdpassClient(fdpassPath!)],
];
const wall: Record<string, number[]> = {};
const cpu: Record<string, number[]> = {};
for (const [name, client] of clients) {
  await client(warmup);
  wall[name] = [];
  cpu[name] = [];
}
for (let k = 0; k < blocks; k++) {
  // Rotate the order so that no client always runs right after another.
  for (let j = 0; j < clients.length; j++) {
    const [name, client] = clients[(k + j) % clients.length]!;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await client(block);
    const elapsed = performance.now() - t0;
    const used = process.cpuUsage(cpu0);
    wall[name]!.push(Math.round((elapsed * 1e6) / block));
    cpu[name]!.push(Math.round(((used.user + used.system) * 1000) / block));
  }
}
console.log(JSON.stringify({
  floor: wall.floor,
  await: wall.await,
  fdpass: wall.fdpass,
  floor_cpu: cpu.floor,
  await_cpu: cpu.await,
  fdpass_cpu: cpu.fdpass,
}));
process.exit(0);
