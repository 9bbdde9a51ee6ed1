#!/usr/bin/env node
// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node; no type syntax here
// Instructions per sync pair, fdpass against the raw FFI floor, counted by
// valgrind's callgrind in Deno or Bun (Node 20 runs this script). Timings
// on this VM move by a few percent between runs, as much as the targets'
// bounds; the instructions a JIT-compiled function executes per pair do
// not, so a change to the send or receive path can be judged exactly here,
// then confirmed by the timed bench (`node bench/run.mjs --only=sync`).
//
//   node bench/instructions.mjs                  Deno, 64 B, no fd
//   node bench/instructions.mjs --fds=1 --size=4096
//   node bench/instructions.mjs --runtime=bun --base=100000 --pairs=300000
//
// Each side runs bench/fdpass/sync_pairs.ts twice, for --base and --pairs
// pairs (defaults 20,000 and 200,000); the difference divided by the extra
// pairs leaves out start-up and JIT compilation. The runtime names the code
// its JIT generated (Deno: a perf map, --perf-basic-prof; Bun: a jitdump,
// BUN_JSC_useJITDump), so the table lists user-space instructions per pair
// by JS function and tier (V8: TurboFan `*`, Maglev `+`, on-stack-replaced
// loops `o*`; JavaScriptCore: FTL, DFG, Baseline, and its thunks) and, in
// Deno, by builtin; the rest (the FFI calls, libc's syscall wrappers, the
// garbage collector, and in Bun the interpreter) is one row. In Deno the JS
// rows repeat to within one instruction from run to run; the "other" row
// moves by a few hundred (garbage collection, helper threads). Bun tiers up
// to FTL later (counted from 20,000 pairs, lower tiers' code is still in):
// give it --base=100000 --pairs=300000; its rows repeat to within 1-2 %.
// Kernel time is not counted: both sides make the same syscalls. Needs
// valgrind (`apt-get install valgrind`); about 2 minutes for Deno's
// defaults (the two sides run in parallel). With 253 fds a pair costs ~50x
// more under valgrind: use --base=1000 --pairs=10000 (Bun: --base=2000).
import { spawn, spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DENO = process.env.DENO ?? join(ROOT, "node_modules", ".bin", "deno");
const BUN = process.env.BUN ?? join(ROOT, "node_modules", ".bin", "bun");
const SCRIPT = join(ROOT, "bench", "fdpass", "sync_pairs.ts");

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const n = Number(arg.slice(name.length + 3));
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`--${name} must be a non-negative integer`);
  }
  return n;
}

const runtimeArg = process.argv.find((a) => a.startsWith("--runtime="));
const runtime = runtimeArg === undefined ? "deno" : runtimeArg.slice(10);
if (runtime !== "deno" && runtime !== "bun") {
  throw new RangeError("--runtime must be deno or bun");
}
const size = option("size", 64);
const fds = option("fds", 0);
const base = option("base", 20000);
const pairs = option("pairs", 200000);
if (pairs <= base) throw new RangeError("--pairs must exceed --base");

if (spawnSync("valgrind", ["--version"]).status !== 0) {
  console.error("needs valgrind: apt-get install valgrind");
  process.exit(2);
}

/** Code ranges from a perf map: sorted [start, end, name]. */
function perfMap(path) {
  const ranges = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) {
      const start = parseInt(m[1], 16);
      ranges.push([start, start + parseInt(m[2], 16), m[3]]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  return ranges;
}

/**
 * Code ranges from JavaScriptCore's jitdump (perf's format: a header, then
 * records; a JIT_CODE_LOAD record, id 0, holds the code's address, size and
 * name): sorted [start, end, name].
 */
function jitDump(path) {
  const b = readFileSync(path);
  const ranges = [];
  let at = b.readUInt32LE(8);
  while (at + 16 <= b.length) {
    const id = b.readUInt32LE(at);
    const length = b.readUInt32LE(at + 4);
    if (length === 0) break;
    if (id === 0) {
      const start = Number(b.readBigUInt64LE(at + 32));
      const bytes = Number(b.readBigUInt64LE(at + 40));
      const name = b.toString("utf8", at + 56, b.indexOf(0, at + 56));
      ranges.push([start, start + bytes, name]);
    }
    at += length;
  }
  ranges.sort((x, y) => x[0] - y[0]);
  return ranges;
}

/** The name of the generated code at `address`, or undefined. */
function lookup(ranges, address) {
  let lo = 0;
  let hi = ranges.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid][0] <= address) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Code objects do not nest, but a freed one's range may be reused: the
  // nearest start below that still covers the address wins.
  for (let i = found; i >= 0 && i > found - 5000; i--) {
    if (ranges[i][1] > address) return ranges[i][2];
  }
  return undefined;
}

/** Readable name: "JS:*'sendSync file:///…/unix_socket.ts:296:15" -> "sendSync (unix_socket.ts) *". */
function label(name) {
  const js = /^JS:([~^+*o]+)'?(.*?) file:\/\/\S*\/([^/:]+)/.exec(name);
  if (js) return `${js[2] || "(anonymous)"} (${js[3]}) ${js[1]}`;
  // JavaScriptCore: "JSC-FTL: sendSync#D4vM4e" -> "sendSync FTL".
  const jsc = /^JSC-(\w+): (.*?)(#\w*)?$/.exec(name);
  if (jsc) return `${jsc[2] || "(anonymous)"} ${jsc[1]}`;
  return name.replace(/^Builtin:/, "builtin ");
}

/**
 * Self instructions per code name in one callgrind profile (written with
 * --dump-instr=yes). Callgrind cannot tell where generated code starts, so
 * every cost line's address is looked up in the perf map first.
 */
function selfCosts(profile, ranges) {
  const costs = new Map();
  let address = 0;
  let callLine = false;
  for (const line of readFileSync(profile, "utf8").split("\n")) {
    if (line.startsWith("calls=")) {
      callLine = true;
      continue;
    }
    const c = line.charCodeAt(0);
    const position = c === 43 || c === 45 || c === 42 || (c >= 48 && c <= 57);
    if (!position) continue;
    const fields = line.split(" ");
    if (fields.length < 3) continue;
    const a = fields[0];
    if (a[0] === "+") address += parseInt(a.slice(1));
    else if (a[0] === "-") address -= parseInt(a.slice(1));
    else if (a !== "*") address = parseInt(a);
    // The line after calls= holds the callee's inclusive cost.
    if (callLine) {
      callLine = false;
      continue;
    }
    const name = lookup(ranges, address);
    const key = name === undefined ? "other" : label(name);
    costs.set(key, (costs.get(key) ?? 0) + Number(fields[2]));
  }
  return costs;
}

async function profile(which, n, dir) {
  const out = join(dir, `${which}-${n}.%p`);
  // Bun writes its jitdump into a directory of this run's own.
  const dumps = join(dir, `${which}-${n}-jit`);
  mkdirSync(dumps);
  const command = runtime === "deno"
    ? [DENO, "run", "-A", "--quiet", "--v8-flags=--perf-basic-prof"]
    : [BUN];
  const child = spawn("valgrind", [
    "--tool=callgrind",
    "--dump-instr=yes",
    `--callgrind-out-file=${out}`,
    ...command,
    SCRIPT,
    which,
    String(size),
    String(fds),
    String(n),
  ], {
    stdio: ["ignore", "ignore", "pipe"],
    env: runtime === "deno" ? process.env : {
      ...process.env,
      BUN_JSC_useJITDump: "1",
      BUN_JSC_jitDumpDirectory: dumps,
    },
  });
  let stderr = "";
  child.stderr.on("data", (d) => stderr = (stderr + d).slice(-2000));
  const status = await new Promise((resolve) => child.on("close", resolve));
  if (status !== 0) throw new Error(`${which} ${n}: exit ${status}\n${stderr}`);
  const file = readdirSync(dir).find((f) => f.startsWith(`${which}-${n}.`));
  if (runtime === "bun") {
    const dump = readdirSync(dumps).find((f) => f.endsWith(".dump"));
    if (dump === undefined) throw new Error(`${which} ${n}: no jitdump`);
    return selfCosts(join(dir, file), jitDump(join(dumps, dump)));
  }
  const pid = file.slice(file.lastIndexOf(".") + 1);
  // V8 writes its perf map to /tmp whatever TMPDIR says.
  const map = `/tmp/perf-${pid}.map`;
  try {
    return selfCosts(join(dir, file), perfMap(map));
  } finally {
    rmSync(map, { force: true });
  }
}

/** Instructions per pair by name: the larger run minus the smaller one. */
async function perPair(which, dir) {
  // One after the other; the other side runs meanwhile on the other core.
  const small = await profile(which, base, dir);
  const large = await profile(which, pairs, dir);
  const result = new Map();
  for (const key of new Set([...small.keys(), ...large.keys()])) {
    const v = ((large.get(key) ?? 0) - (small.get(key) ?? 0)) / (pairs - base);
    result.set(key, v);
  }
  return result;
}

const version = runtime === "deno"
  ? spawnSync(DENO, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]
  : `bun ${spawnSync(BUN, ["--version"], { encoding: "utf8" }).stdout.trim()}`;
const dir = mkdtempSync(join(tmpdir(), "fdpass-instructions-"));
try {
  // The two sides in parallel, one core each.
  const [fdpass, floor] = await Promise.all([
    perPair("fdpass", dir),
    perPair("floor", dir),
  ]);
  const sum = (m, js) => {
    let s = 0;
    for (const [k, v] of m) if ((k !== "other") === js) s += v;
    return s;
  };
  console.log(
    `${version}: user-space instructions per sync pair, ${size} B + ${fds} fd(s) (${pairs} pairs minus ${base}):`,
  );
  const rows = [];
  for (const [side, m] of [["fdpass", fdpass], ["floor", floor]]) {
    // Rows under 3 are start-up differences between the two runs.
    for (const [k, v] of m) {
      if (k !== "other" && v >= 3) rows.push([side, k, v]);
    }
  }
  rows.sort((a, b) => b[2] - a[2]);
  const width = Math.max(...rows.map((r) => r[1].length), 28);
  const line = (side, k, v) =>
    `  ${side.padEnd(7)} ${k.padEnd(width)} ${v.toFixed(0).padStart(6)}`;
  for (const [side, k, v] of rows) console.log(line(side, k, v));
  const js = sum(fdpass, true) - sum(floor, true);
  console.log(line("fdpass", "JS and builtins, total", sum(fdpass, true)));
  console.log(line("floor", "JS and builtins, total", sum(floor, true)));
  console.log(line("", "fdpass over the floor", js));
  console.log(
    `  other code (FFI calls, libc, GC; moves by a few hundred between runs): fdpass ${
      sum(fdpass, false).toFixed(0)
    }, floor ${sum(floor, false).toFixed(0)}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
