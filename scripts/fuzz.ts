/**
 * The long run of the control-message fuzzer (issue 5): `cases` seeded
 * random, truncated and adversarial control buffers through parseControl,
 * round-robin over every platform profile. Needs no permission and no FFI.
 *
 *     bun scripts/fuzz.ts [cases=100000] [seed=random]
 *     deno run scripts/fuzz.ts [cases=100000] [seed=random]
 *
 * Prints the cases run, what they exercised, failures (each with the seed and
 * case index that reproduce it) and the time; exits 1 on any failure.
 *
 * @module
 */

import process from "node:process";
import { PLATFORMS } from "../platform/mod.ts";
import { describeFailures, runFuzz } from "../tests/_fuzz_cases.ts";

function argument(index: number, fallback: number, name: string): number {
  const text = process.argv[2 + index];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(
      `usage: scripts/fuzz.ts [cases] [seed]: bad ${name} "${text}"`,
    );
    process.exit(2);
  }
  return value;
}

const cases = argument(0, 100_000, "cases");
const seed = argument(1, Math.floor(Math.random() * 0x1_0000_0000), "seed") >>>
  0;
const runtime = "Bun" in globalThis ? "bun" : "deno";

console.log(
  `fuzzing parseControl: ${cases} cases, seed ${seed}, ${PLATFORMS.length} profiles, ${runtime}`,
);
const report = runFuzz({ cases, seed, profiles: PLATFORMS });
const t = report.tally;
const seconds = report.milliseconds / 1000;
console.log(`cases run: ${report.cases}`);
console.log(
  `  per profile: ${
    Object.entries(report.perProfile).map(([k, v]) => `${k} ${v}`).join(", ")
  }`,
);
console.log(
  `  per generator: ${
    Object.entries(report.perMode).map(([k, v]) => `${k} ${v}`).join(", ")
  }`,
);
console.log(
  `  well-formed with fds: ${t.withFds}, malformed: ${t.malformed}, with credentials: ${t.credentials}, fast path taken: ${t.fastPath}, fds expected: ${t.fds}`,
);
console.log(`failures: ${report.failures.length}`);
if (report.failures.length > 0) console.log(describeFailures(report));
console.log(
  `time: ${seconds.toFixed(2)} s (${
    Math.round(report.cases / seconds)
  } cases/s)`,
);
process.exit(report.failures.length === 0 ? 0 : 1);
