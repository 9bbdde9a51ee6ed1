// Idle CPU of one fdpass process over a quiet window (Bun and Deno).
// Modes:
//   pending  a receive is parked in the reactor on a socket nobody writes to
//   used     three receives went through the reactor, then nothing pending
//   bare     the runtime alone: fdpass imported, no socket
// CPU is process.cpuUsage() (getrusage(RUSAGE_SELF): every thread, so the
// Bun reactor Worker and Deno's pool threads count), taken after a settle
// time so start-up and JIT are outside the window.
// Usage: <runtime> idle.ts <pending|used|bare> <window_ms> [settle_ms]
// Prints {"cpu_percent":...,"cpu_ms":...,"wall_ms":...}.
import process from "node:process";
import { socketPair } from "../../mod.ts";
import type { ReceiveResult, UnixSocket } from "../../mod.ts";
import { intArg, round, scriptArgs, sleep } from "./_common.ts";

const args = scriptArgs();
const mode = args[0] ?? "pending";
const windowMs = intArg(args, 1, 5000);
// Long past the library's spin phase (a few dozen event-loop turns), so the
// receive is parked in epoll, and past the runtime's own post-start-up work
// (GC and JIT timers cost about 2 ms of CPU in the first second).
const SETTLE_MS = intArg(args, 2, 1000);

if (mode !== "pending" && mode !== "used" && mode !== "bare") {
  throw new RangeError(`unknown mode ${mode}; use pending, used or bare`);
}

let sockets: UnixSocket[] = [];
let pending: Promise<ReceiveResult> | undefined;
let settled = false;
const controller = new AbortController();
const buffer = new Uint8Array(64);

if (mode === "pending") {
  const [a, b] = socketPair();
  sockets = [a, b];
  pending = b.receive(buffer, { signal: controller.signal });
  pending.then(
    () => settled = true,
    () => settled = true,
  );
} else if (mode === "used") {
  const [a, b] = socketPair();
  sockets = [a, b];
  for (let i = 0; i < 3; i++) {
    const received = b.receive(buffer);
    await sleep(50); // parked in the reactor by now
    a.sendSync(new Uint8Array(64));
    const r = await received;
    if (r.bytes !== 64) throw new Error(`expected 64 B, got ${r.bytes}`);
  }
}

await sleep(SETTLE_MS);
const before = process.cpuUsage();
const t0 = performance.now();
await sleep(windowMs);
const used = process.cpuUsage(before);
const wallMs = performance.now() - t0;

if (pending !== undefined) {
  if (settled) throw new Error("the pending receive settled while idle");
  controller.abort();
  await pending.then(
    () => {
      throw new Error("the receive resolved with nobody writing");
    },
    () => undefined,
  );
}
for (const s of sockets) s.close();

const cpuMs = (used.user + used.system) / 1000;
console.log(JSON.stringify({
  mode,
  cpu_percent: round((cpuMs / wallMs) * 100, 4),
  cpu_ms: round(cpuMs, 3),
  wall_ms: round(wallMs, 1),
}));
