// Sync fdpass baseline (Bun and Deno): socketPair("stream"), sendSync +
// receiveSync pairs. Same cases and output as bench/c/sync.c.
// Usage: <runtime> sync.ts <pairs> <pairs_253>
import { openSync } from "node:fs";
import { SCM_MAX_FD, socketPair } from "../../mod.ts";
import type { UnixSocket } from "../../mod.ts";
import { fdpassSyncLoop } from "./_sync.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  process.argv.slice(2);
const pairs = Number(args[0] ?? 100000);
const pairs253 = Number(args[1] ?? 5000);

const [a, b] = socketPair("stream");
const devnull = openSync("/dev/null", "r");

function runCase(
  tx: UnixSocket,
  rx: UnixSocket,
  size: number,
  nfds: number,
  n: number,
): number {
  const loop = fdpassSyncLoop(tx, rx, devnull, size, nfds);
  loop(Math.floor(n / 10) + 1);
  const t0 = performance.now();
  loop(n);
  return ((performance.now() - t0) * 1e6) / n;
}

const round = (x: number) => Math.round(x * 10) / 10;
const out = {
  fd1_64: round(runCase(a, b, 64, 1, pairs)),
  nofd_64: round(runCase(a, b, 64, 0, pairs)),
  nofd_4k: round(runCase(a, b, 4096, 0, pairs)),
  fd253_64: round(runCase(a, b, 64, SCM_MAX_FD, pairs253)),
};
a.close();
b.close();
console.log(JSON.stringify(out));
