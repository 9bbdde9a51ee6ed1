// One sync loop, fdpass's or the raw floor's, for a fixed number of pairs,
// then exit: what bench/instructions.mjs counts under callgrind.
//
// Usage: <runtime> sync_pairs.ts <floor|fdpass> <size> <nfds> <pairs>
import process from "node:process";
import { socketPair } from "../../mod.ts";
import { intArg, scriptArgs } from "./_common.ts";
import { openDevNull, rawStreamPair, rawSyncLoop } from "./_raw.ts";
import { fdpassSyncLoop } from "./_sync.ts";

const args = scriptArgs();
const which = args[0];
const size = intArg(args, 1, 64);
const nfds = intArg(args, 2, 0);
const pairs = intArg(args, 3, 20000);
const devnull = openDevNull();

let loop: (pairs: number) => void;
if (which === "floor") {
  const [tx, rx] = rawStreamPair();
  loop = rawSyncLoop(tx, rx, devnull, size, nfds);
} else if (which === "fdpass") {
  const [a, b] = socketPair("stream");
  loop = fdpassSyncLoop(a, b, devnull, size, nfds);
} else {
  throw new TypeError(`expected floor or fdpass, got ${which}`);
}
loop(pairs);
process.exit(0);
