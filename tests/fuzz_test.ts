/**
 * The quick run of the control-message fuzzer (issue 5): a few thousand
 * seeded random, truncated and adversarial control buffers through
 * parseControl on every profile. `scripts/fuzz.ts` runs 10^5. The generator,
 * the reference model and the properties are in `_fuzz_cases.ts`.
 *
 * Reproduce a failure with `FDPASS_FUZZ_SEED=<seed>` (the message prints it),
 * or `bun scripts/fuzz.ts <cases> <seed>`.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  parseControl,
  type ParsedControl,
  type PlatformLayout,
  PLATFORMS,
} from "../platform/mod.ts";
import {
  caseSeed,
  describeFailures,
  generateCase,
  type Parser,
  runFuzz,
} from "./_fuzz_cases.ts";

const SEED = Number(process.env.FDPASS_FUZZ_SEED ?? 0x5eed2026) >>> 0;
const CASES = 6000;
const MODES = ["kernel", "walk", "empties", "mutated", "truncated", "noise"];

test(`parseControl() holds its contract on ${CASES} random control buffers across all profiles (seed ${SEED})`, () => {
  const report = runFuzz({ cases: CASES, seed: SEED, profiles: PLATFORMS });
  assert.deepEqual(
    report.failures,
    [],
    `seed ${SEED}:\n${describeFailures(report)}`,
  );
  assert.equal(report.cases, CASES);
  for (const p of PLATFORMS) {
    assert.equal(report.perProfile[p.name], CASES / PLATFORMS.length);
  }
  for (const mode of MODES) {
    assert.ok((report.perMode[mode] ?? 0) > 100, `mode ${mode}`);
  }
  // Not vacuous: clean buffers with fds, malformed ones, credentials and the
  // receive path's fast path all occur in quantity.
  const t = report.tally;
  assert.ok(t.withFds > CASES / 10, `${t.withFds} clean cases with fds`);
  assert.ok(t.malformed > CASES / 10, `${t.malformed} malformed cases`);
  assert.ok(t.credentials > 50, `${t.credentials} with credentials`);
  assert.ok(t.fastPath > 100, `${t.fastPath} through the fast path`);
});

test("the generator is reproducible from its seed and covers the §5 shapes", () => {
  const layout = PLATFORMS[0]!;
  const a = generateCase(caseSeed(SEED, 7), layout);
  const b = generateCase(caseSeed(SEED, 7), layout);
  assert.deepEqual(a, b);
  assert.notDeepEqual(generateCase(caseSeed(SEED, 8), layout), a);
  // msg_controllen values that are not multiples of 8, and headers with a
  // cmsg_len of 0, 8, 15 and 16, all occur.
  const lengths = new Set<number>();
  const cmsgLens = new Set<number>();
  for (let i = 0; i < 3000; i++) {
    const item = generateCase(caseSeed(SEED, i), layout);
    lengths.add(item.length % 8);
    const view = new DataView(item.bytes.buffer);
    for (let at = 0; at + 4 <= item.bytes.length; at += 8) {
      cmsgLens.add(view.getUint32(at, true));
    }
  }
  assert.equal(lengths.size, 8);
  for (const value of [0, 8, 15, 16]) {
    assert.ok(cmsgLens.has(value), `${value}`);
  }
});

/** Runs the fuzzer on a deliberately broken parser: it must find the fault. */
function catches(parse: Parser): string {
  const report = runFuzz({
    cases: 3000,
    seed: SEED,
    profiles: PLATFORMS,
    parse,
    maxFailures: 1,
  });
  assert.equal(report.failures.length, 1, "the fuzzer missed the fault");
  return report.failures[0]!.message;
}

test("the harness catches a parser that reads past msg_controllen", () => {
  const message = catches((view, offset, length, layout, result) =>
    parseControl(view, offset, length + 4, layout, result)
  );
  assert.match(message, /outside|contract|past msg_controllen|other|exact/);
});

test("the harness catches a parser that reads before its offset", () => {
  const message = catches((view, offset, length, layout, result) => {
    view.getUint8(offset - 1);
    return parseControl(view, offset, length, layout, result);
  });
  assert.match(message, /outside|exact-size/);
});

test("the harness catches a parser that never terminates", () => {
  const message = catches((view, offset, length, layout, result) => {
    for (let i = 0; length > 0; i++) view.getUint8(offset + (i % length));
    return parseControl(view, offset, length, layout, result);
  });
  assert.match(message, /does not terminate/);
});

test("the harness catches a parser that writes to the buffer", () => {
  const message = catches((view, offset, length, layout, result) => {
    if (length > 0) view.setUint8(offset, view.getUint8(offset));
    return parseControl(view, offset, length, layout, result);
  });
  assert.match(message, /wrote|modified/);
});

/** crosvm's way (semantics.md §4): trusts cmsg_len, no clamp, no minimum. */
function trusting(
  view: DataView,
  offset: number,
  length: number,
  layout: PlatformLayout,
  result: ParsedControl,
): ParsedControl {
  const h = layout.cmsghdr;
  let at = 0;
  for (let guard = 0; at + h.size <= length && guard < 64; guard++) {
    const cmsgLen = view.getUint32(offset + at, true);
    const level = view.getInt32(offset + at + h.level, true);
    const type = view.getInt32(offset + at + h.type, true);
    if (
      level === layout.constants.SOL_SOCKET &&
      type === layout.constants.SCM_RIGHTS
    ) {
      for (let p = h.dataOffset; p + 4 <= cmsgLen && p < 4096; p += 4) {
        result.fds.push(view.getInt32(offset + at + p, true));
      }
    }
    at += Math.max(h.align, Math.ceil(cmsgLen / h.align) * h.align);
  }
  return result;
}

test("the harness catches a parser that trusts cmsg_len", () => {
  catches(trusting);
});

test("the harness catches a parser that returns negative fds", () => {
  const message = catches((view, offset, length, layout, result) => {
    const parsed = parseControl(view, offset, length, layout, result);
    if (parsed.malformed) parsed.fds.push(-1);
    return parsed;
  });
  assert.match(message, /contract/);
});
