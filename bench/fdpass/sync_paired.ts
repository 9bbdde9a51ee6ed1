// The sync cases of sync.ts, their raw FFI floor (raw_ffi.ts's `sync`) and
// their owning floor (the floor plus the objects any API that hands out
// owned descriptors allocates: _raw.ts's owningSyncLoop) in ONE process, in
// alternating blocks: each ratio to the floor is taken block by block,
// under the same CPU frequency, cache and scheduler state, instead of
// between processes run seconds apart (whose medians move by ±10 % on a
// shared VM, more than the targets' bounds). Each case warms every loop up
// first, so V8 has compiled them with its top tier (Deno's FFI calls take
// the slow path from its middle tier).
//
// Usage: <runtime> sync_paired.ts <warmup> <block> <blocks> <block_253>
// Prints {"fd1_64":{"floor":[...],"owning":[...],"fdpass":[...]},...} with, per
// block, the time per pair in ns.
import process from "node:process";
import { SCM_MAX_FD, socketPair } from "../../mod.ts";
import { intArg, scriptArgs } from "./_common.ts";
import {
  openDevNull,
  owningSyncLoop,
  rawStreamPair,
  rawSyncLoop,
} from "./_raw.ts";
import { fdpassSyncLoop } from "./_sync.ts";

const args = scriptArgs();
const warmup = intArg(args, 0, 50000);
const block = intArg(args, 1, 20000);
const blocks = intArg(args, 2, 15);
const block253 = intArg(args, 3, 1000);

const devnull = openDevNull();
const [tx, rx] = rawStreamPair();
const [a, b] = socketPair("stream");

const CASES = [
  { key: "fd1_64", size: 64, nfds: 1 },
  { key: "nofd_64", size: 64, nfds: 0 },
  { key: "nofd_4k", size: 4096, nfds: 0 },
  { key: "fd253_64", size: 64, nfds: SCM_MAX_FD },
] as const;

const out: Record<
  string,
  { floor: number[]; owning: number[]; fdpass: number[] }
> = {};
for (const c of CASES) {
  const n = c.nfds === SCM_MAX_FD ? block253 : block;
  const loops: [string, (pairs: number) => void][] = [
    ["floor", rawSyncLoop(tx, rx, devnull, c.size, c.nfds)],
    ["owning", owningSyncLoop(tx, rx, devnull, c.size, c.nfds)],
    ["fdpass", fdpassSyncLoop(a, b, devnull, c.size, c.nfds)],
  ];
  const times: Record<string, number[]> = { floor: [], owning: [], fdpass: [] };
  for (const [, loop] of loops) loop(Math.ceil((warmup * n) / block));
  for (let k = 0; k < blocks; k++) {
    // Alternate which runs first, so neither always follows the other.
    for (let j = 0; j < loops.length; j++) {
      const [name, loop] = loops[(k + j) % loops.length]!;
      const t0 = performance.now();
      loop(n);
      times[name]!.push(Math.round(((performance.now() - t0) * 1e6) / n));
    }
  }
  out[c.key] = {
    floor: times.floor!,
    owning: times.owning!,
    fdpass: times.fdpass!,
  };
}
a.close();
b.close();
console.log(JSON.stringify(out));
process.exit(0);
