/**
 * Helpers shared by the fault and stress peers (child processes that run
 * under Bun or Deno with `--allow-ffi` only, so they cannot read
 * /proc/self/fd): settling the runtime's own lazy fds, counting free
 * descriptor slots by filling the table, and a deterministic byte pattern.
 *
 * @module
 */

import process from "node:process";
import { type OwnedFd, pipe, socketPair, SystemError } from "../../mod.ts";

/**
 * Waits until the runtime is at least one second old, turning the event
 * loop. A Deno process opens a socket pair of its own on the first turn
 * after about 500 ms (seen with 2.9.6 under `deno run`, with no fdpass code
 * involved); fd tables compared across that moment would differ, and a
 * table filled to the limit would make that internal call fail.
 */
export async function settleRuntime(): Promise<void> {
  // Deno opens its socket pair ~0.6 s after start natively, ~2.2 s under
  // qemu (the only arm64 runs here; a child with only --allow-ffi cannot
  // read FDPASS_EMULATED, so it goes by the architecture).
  const deadline = process.arch === "arm64" ? 4000 : 1000;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let warmed = false;

/**
 * Makes fdpass create its reactor now (epoll and eventfd; in Bun also the
 * Worker's own event loop: 4 fds kept for the process' life), by waiting
 * past the spin turns, so that fd counts taken afterwards stay stable. Once
 * per process.
 */
export async function warmReactor(): Promise<void> {
  if (warmed) return;
  warmed = true;
  const [a, b] = socketPair();
  try {
    const pending = b.receive(new Uint8Array(1));
    // The receive retries once per event-loop turn (32 turns) before it
    // arms the reactor: outlast that in turns, not only in time, since a
    // loaded machine can let a timer fire before the turns are spent.
    const started = performance.now();
    for (let turns = 0; turns < 200 || performance.now() - started < 50;) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
    }
    a.sendSync(new Uint8Array([1]));
    await pending;
  } finally {
    a.close();
    b.close();
  }
}

/**
 * Opens descriptors (pipes, then duplicates for an odd last slot) until the
 * table is full and returns them; the caller closes them.
 */
export function fillTable(): OwnedFd[] {
  const held: OwnedFd[] = [];
  try {
    for (;;) held.push(...pipe());
  } catch (error) {
    if (!(error instanceof SystemError) || error.code !== "EMFILE") {
      for (const fd of held) fd.close();
      throw error;
    }
  }
  try {
    for (;;) held.push(held[0]!.dup());
  } catch (error) {
    if (!(error instanceof SystemError) || error.code !== "EMFILE") {
      for (const fd of held) fd.close();
      throw error;
    }
  }
  return held;
}

/** How many descriptors this process can still open (fills, counts, closes). */
export function freeSlots(): number {
  const held = fillTable();
  for (const fd of held) fd.close();
  return held.length;
}

/** Pattern byte `i` of stream `tag`: lets a receiver check order and content. */
export function patternByte(tag: number, i: number): number {
  return (tag * 131 + i * 7 + (i >>> 8)) & 255;
}

/** `length` pattern bytes of `tag`, starting at pattern offset `from`. */
export function pattern(tag: number, from: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = patternByte(tag, from + i);
  return out;
}

/** Arguments after the script path, in Bun and Deno alike. */
export function scriptArgs(): string[] {
  return process.argv.slice(2);
}

/** Writes one JSON line (the peer's report) to stdout. */
export function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
