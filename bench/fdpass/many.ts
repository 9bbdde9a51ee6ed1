// Many sockets awaiting at once on one reactor (Bun and Deno).
// Opens <pairs> socket pairs and parks a receive on both ends of each
// (2 × pairs sockets waiting), then:
//   - round trips to bench/c/echo_server (64 B + 1 fd each way) while they
//     all wait, against the same number of round trips before they existed;
//   - sends 64 B + 1 fd to every waiting socket (sendSync from its peer)
//     and times from the first send until every receive has resolved (the
//     received fds are checked and closed after that);
//   - JS heap and RSS (after a forced GC) before the pairs, after opening
//     them, and after parking the receives.
// Usage: <runtime> many.ts <echo_path> <pairs> <rounds>
// Deno: run with --v8-flags=--expose-gc, or the memory figures include
// garbage ("gc": false in the output).
import { connect, pipe, socketPair } from "../../mod.ts";
import type { ReceiveResult, UnixSocket } from "../../mod.ts";
import {
  collectGarbage,
  fdpassPingPong,
  intArg,
  memory,
  round,
  scriptArgs,
  sleep,
} from "./_common.ts";

const args = scriptArgs();
const path = args[0];
if (path === undefined) {
  throw new TypeError("usage: many.ts <echo_path> <pairs> <rounds>");
}
const pairs = intArg(args, 1, 500);
const rounds = intArg(args, 2, 2000);
const WARMUP = 2000;
// Far past the library's spin phase: every receive is parked in epoll.
const PARK_MS = 50;

const [readEnd, writeEnd] = pipe();
const payload = new Uint8Array(64).fill(0x6d);
const fds = [readEnd];
const receiveOptions = { maxFds: 1 };

// The echo round trips are the ping-pong bench's client.
const echo = connect(path);
const pingPong = fdpassPingPong(echo, readEnd.fd);

/** `n` round trips to the echo server, each one's time in µs. */
async function sampleRtt(n: number): Promise<number[]> {
  const ns: number[] = [];
  await pingPong(n, ns);
  return ns.map((t) => t / 1000);
}

await pingPong(WARMUP);
// Warm the reactor path too: one receive parked, then resolved.
{
  const [a, b] = socketPair();
  const r = b.receive(new Uint8Array(64));
  await sleep(PARK_MS);
  a.sendSync(payload);
  await r;
  a.close();
  b.close();
}
const rttAlone = await sampleRtt(rounds);

const buffers: Uint8Array[] = [];
for (let i = 0; i < 2 * pairs; i++) buffers.push(new Uint8Array(64));
const gc = collectGarbage();
const m0 = memory();
const sockets: UnixSocket[] = [];
for (let i = 0; i < pairs; i++) sockets.push(...socketPair());
const m1 = memory();
const pending: Promise<ReceiveResult>[] = sockets.map((s, i) =>
  s.receive(buffers[i]!, receiveOptions)
);
let early = 0;
for (const p of pending) p.then(() => early++, () => early++);
await sleep(PARK_MS);
const m2 = memory();
if (early !== 0) {
  throw new Error(`${early} receives settled with nobody writing`);
}

const rttWaiting = await sampleRtt(rounds);

// Socket 2k and 2k+1 are the ends of pair k: writing to one wakes the other.
const t0 = performance.now();
for (let i = 0; i < sockets.length; i++) {
  sockets[i ^ 1]!.sendSync(payload, fds);
}
const tSent = performance.now();
const results = await Promise.all(pending);
const tDone = performance.now();
for (const r of results) {
  if (r.bytes !== 64 || r.fds.length !== 1) {
    throw new Error(`expected 64 B + 1 fd, got ${r.bytes} B + ${r.fds.length}`);
  }
  for (const fd of r.fds) fd.close();
}
for (const s of sockets) s.close();
echo.close();
readEnd.close();
writeEnd.close();

const waiting = sockets.length;
console.log(JSON.stringify({
  waiting,
  gc,
  resolve_us_per_msg: round(((tDone - t0) * 1000) / waiting, 2),
  send_loop_us_per_msg: round(((tSent - t0) * 1000) / waiting, 2),
  resolve_total_ms: round(tDone - t0, 2),
  rtt_alone_us: rttAlone.map((v) => round(v, 1)),
  rtt_waiting_us: rttWaiting.map((v) => round(v, 1)),
  heap_per_socket_b: round((m1.heapUsed - m0.heapUsed) / waiting, 0),
  rss_per_socket_b: round((m1.rss - m0.rss) / waiting, 0),
  heap_per_receive_b: round((m2.heapUsed - m1.heapUsed) / waiting, 0),
  rss_per_receive_b: round((m2.rss - m1.rss) / waiting, 0),
  heap_before_b: m0.heapUsed,
  rss_before_b: m0.rss,
}));
