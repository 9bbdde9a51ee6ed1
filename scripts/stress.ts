/**
 * The long randomized stress run of issue 5: 10⁴ messages (by default) with
 * 0 to 253 fds over stream, datagram and seqpacket sockets, to a Bun child
 * and to a Deno child, with every fd's identity and both processes' fd tables
 * checked after every message (see tests/peers/stress_driver.ts).
 *
 *   deno run -A scripts/stress.ts [messages] [seed]
 *   bun scripts/stress.ts [messages] [seed]
 *
 * Deno needs -A only to read /proc/self/fd; the children get --allow-ffi.
 */

import process from "node:process";
import { openFds } from "../tests/_helpers.ts";
import { runStress, type StressFigures } from "../tests/peers/stress_driver.ts";
import { settleRuntime, warmReactor } from "../tests/peers/fault_common.ts";

const messages = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
const runtime = "Bun" in globalThis ? "bun" : "deno";

await warmReactor();
await settleRuntime();
const before = openFds();
const results: StressFigures[] = [];
for (const child of ["bun", "deno"] as const) {
  console.log(`${runtime} -> ${child}: ${messages} messages, seed ${seed}`);
  const figures = await runStress({
    child,
    messages,
    seed,
    progress: (done) => console.log(`  ${done}/${messages}`),
    progressEvery: 1000,
  });
  console.log(JSON.stringify(figures));
  results.push(figures);
}
const leaked = [...openFds()].filter(([fd, target]) =>
  before.get(fd) !== target
);
if (leaked.length > 0) {
  console.error(`fd leak in the parent: ${JSON.stringify(leaked)}`);
  process.exit(1);
}
const sum = (key: "messages" | "fds" | "bytes"): number =>
  results.reduce((total, r) => total + r[key], 0);
console.log(
  `ok: ${sum("messages")} messages, ${sum("fds")} fds checked both ways, ${
    sum("bytes")
  } bytes, ${
    results.reduce((t, r) => t + r.childFdChecks, 0)
  } child fd-table checks, 0 fds leaked (seed ${seed})`,
);
