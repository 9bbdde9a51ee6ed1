/**
 * Shared test helpers: which runtime runs the suite, fd counting through
 * `/proc/self/fd`, child processes (Bun, Deno, CPython) and unique socket
 * names. Every test file imports from here; none mocks a syscall.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { socketPair } from "../mod.ts";

/** The runtime running this test file. */
export const RUNTIME: "bun" | "deno" = "Bun" in globalThis ? "bun" : "deno";

/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The pinned runtimes, as `npm ci` installs them. */
export const BIN: { bun: string; deno: string } = {
  bun: process.env.FDPASS_BUN ?? join(ROOT, "node_modules/.bin/bun"),
  deno: process.env.FDPASS_DENO ?? join(ROOT, "node_modules/.bin/deno"),
};

/**
 * What a Deno child needs besides `--allow-ffi` to see `FDPASS_REACTOR`
 * when the suite runs with it (`npm test`'s poll runs): nothing otherwise.
 */
export const REACTOR_PERMISSIONS: readonly string[] =
  process.env.FDPASS_REACTOR === undefined
    ? []
    : ["--allow-env=FDPASS_REACTOR"];

/** True when the suite runs under qemu-user (set by scripts/test-arm64.sh). */
export const EMULATED: boolean = process.env.FDPASS_EMULATED === "1";

/**
 * The skip option for a test that cannot hold under qemu-user: `false`
 * natively; under emulation it prints why the test is skipped and returns
 * the reason.
 */
export function skipUnderQemu(what: string, reason: string): string | false {
  if (!EMULATED) return false;
  console.log(`[qemu] skipped: ${what}: ${reason}`);
  return `qemu-user: ${reason}`;
}

/** The fds this process has open right now, by number, with their targets. */
export function openFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    try {
      out.set(fd, readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // The directory's own fd is gone by the time it is read.
    }
  }
  return out;
}

let warmed = false;

/**
 * Opens what each runtime opens lazily on first use (Bun's event loop
 * epoll/eventfd, child-process plumbing) so that fd counts taken afterwards
 * are stable. fdpass's reactor holds descriptors only while something
 * waits (Bun's helper Worker, with its own two, ends 250 ms after its last
 * wait), so a count never sees more of them than before.
 */
export async function warmUp(): Promise<void> {
  if (warmed) return;
  warmed = true;
  const [a, b] = socketPair();
  const pending = b.receive(new Uint8Array(1));
  // The receive retries once per event-loop turn before it arms the
  // reactor: outlast that in turns, not only in time, since a loaded
  // machine can fire a timer before the turns are spent.
  const started = performance.now();
  for (let turns = 0; turns < 200 || performance.now() - started < 50;) {
    await new Promise((resolve) => setImmediate(resolve));
    turns++;
  }
  a.sendSync(new Uint8Array([1]));
  await pending;
  a.close();
  b.close();
  await run(process.execPath, ["--version"]);
  await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Counts fds around a test body: resolves with the body's value and throws
 * when the body left any fd open that was not open before it. Waits briefly
 * for fds the runtime itself closes asynchronously (child pipes).
 */
export async function noLeak<T>(body: () => T | Promise<T>): Promise<T> {
  await warmUp();
  const before = openFds();
  const value = await body();
  let leaked: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    leaked = [...openFds()]
      .filter(([fd, target]) => before.get(fd) !== target)
      .map(([fd, target]) => `${fd} -> ${target}`);
    if (leaked.length === 0) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`fd leak: ${leaked.join(", ")}`);
}

/** The result of a finished child process. */
export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output. */
export function run(
  command: string,
  args: readonly string[],
  options: {
    env?: Record<string, string>;
    input?: string;
    timeoutMs?: number;
  } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // argv cannot hold NUL: an abstract name travels as "@name" (see
    // tests/peers/_args.ts, which turns it back).
    const argv = args.map((a) => a.startsWith("\0") ? `@${a.slice(1)}` : a);
    const child = spawn(command, argv, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => stdout += s);
    child.stderr!.setEncoding("utf8").on("data", (s: string) => stderr += s);
    const timer = setTimeout(
      () => child.kill("SIGKILL"),
      options.timeoutMs ?? 60_000,
    );
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin!.end(options.input ?? "");
  });
}

/** Runs a TypeScript file of the suite under `runtime` (Deno: only `permissions`). */
export function runScript(
  runtime: "bun" | "deno",
  script: string,
  args: readonly string[] = [],
  options: {
    permissions?: readonly string[];
    env?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<RunResult> {
  const path = join(ROOT, script);
  if (runtime === "bun") {
    return run(BIN.bun, [path, ...args], options);
  }
  const permissions = options.permissions ??
    ["--allow-ffi", ...REACTOR_PERMISSIONS];
  return run(
    BIN.deno,
    ["run", "--quiet", "--no-prompt", ...permissions, path, ...args],
    options,
  );
}

/** A unique Linux abstract socket name ("\0..."), never a file. */
export function abstractName(tag: string): string {
  return `\0fdpass-test-${tag}-${process.pid}-${Date.now()}-${
    Math.random().toString(36).slice(2)
  }`;
}

/** Whether `command` runs here (`python3`, `cc`). */
export function available(command: string, args: readonly string[]): boolean {
  try {
    return spawnSync(command, [...args], { stdio: "ignore" }).status === 0;
  } catch {
    return false;
  }
}

/** (st_dev, st_ino) of an fd, through /proc: the identity of the open file's inode. */
export function inodeOf(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

/**
 * Makes sure `systemd-socket-activate` (Debian package `systemd`) is here,
 * installing it with apt-get as root when missing. Returns `false` when it
 * runs, else the reason to skip (also printed).
 */
export function socketActivateMissing(): string | false {
  if (available("systemd-socket-activate", ["--version"])) return false;
  if (process.getuid?.() !== 0 || !available("apt-get", ["--version"])) {
    const reason =
      "systemd-socket-activate is missing (install Debian's systemd package as root)";
    console.log(`skipped: ${reason}`);
    return reason;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "--no-install-recommends", "systemd"];
  let result = spawnSync("apt-get", install, { env, encoding: "utf8" });
  if (result.status !== 0) {
    spawnSync("apt-get", ["update"], { env, encoding: "utf8" });
    result = spawnSync("apt-get", install, { env, encoding: "utf8" });
  }
  if (available("systemd-socket-activate", ["--version"])) return false;
  const reason = `apt-get could not install systemd: ${
    (result.stderr ?? "").trim().split("\n").pop()
  }`;
  console.log(`skipped: ${reason}`);
  return reason;
}
