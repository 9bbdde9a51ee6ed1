// Heap growth over a long run of sync messages (Bun and Deno): 64 B + 1 fd
// per message over socketPair("stream"), sendSync + receiveSync, the
// received fd closed. Compares JS heap use and RSS after a warm-up with the
// same at the end, each after a forced GC, and samples the heap (also after
// a GC) at ten checkpoints on the way.
// Usage: <runtime> heap.ts <messages>
// Deno: run with --v8-flags=--expose-gc, or the figures include garbage
// ("gc": false in the output).
import { pipe, socketPair } from "../../mod.ts";
import {
  collectGarbage,
  intArg,
  memory,
  round,
  scriptArgs,
} from "./_common.ts";

const args = scriptArgs();
const messages = intArg(args, 0, 1_000_000);
const warmup = Math.max(10_000, Math.floor(messages / 10));
const CHECKPOINTS = 10;

const [a, b] = socketPair("stream");
const [readEnd, writeEnd] = pipe();
const payload = new Uint8Array(64).fill(0x68);
const buffer = new Uint8Array(64);
const fds = [readEnd];
const options = { maxFds: 1 };

function loop(count: number): void {
  for (let i = 0; i < count; i++) {
    a.sendSync(payload, fds);
    let got = 0;
    let nfds = 0;
    while (got < 64) {
      const r = b.receiveSync(
        got === 0 ? buffer : buffer.subarray(got),
        options,
      );
      for (const fd of r.fds) fd.close();
      if (r.eof) throw new Error("unexpected end of stream");
      nfds += r.fds.length;
      got += r.bytes;
    }
    if (nfds !== 1) throw new Error(`expected 1 fd, got ${nfds}`);
  }
}

loop(warmup);
const gc = collectGarbage();
const start = memory();
const heapSamples: number[] = [];
const t0 = performance.now();
let done = 0;
for (let k = 1; k <= CHECKPOINTS; k++) {
  const upTo = Math.round((messages * k) / CHECKPOINTS);
  loop(upTo - done);
  done = upTo;
  heapSamples.push(memory().heapUsed);
}
const elapsedMs = performance.now() - t0;
const end = memory();
for (const x of [a, b, readEnd, writeEnd]) x.close();

console.log(JSON.stringify({
  messages,
  warmup,
  gc,
  heap_bytes_per_msg: round((end.heapUsed - start.heapUsed) / messages, 4),
  rss_bytes_per_msg: round((end.rss - start.rss) / messages, 4),
  heap_start_b: start.heapUsed,
  heap_end_b: end.heapUsed,
  rss_start_b: start.rss,
  rss_end_b: end.rss,
  heap_checkpoints_b: heapSamples,
  ns_per_msg: round((elapsedMs * 1e6) / messages, 0),
}));
