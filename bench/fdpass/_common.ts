// Shared by the fdpass bench programs: arguments, sleeping, forced GC and
// memory figures in both runtimes. Imports nothing from fdpass.
import process from "node:process";

/** Command-line arguments after the script, in Bun and in Deno. */
export function scriptArgs(): string[] {
  const deno = (globalThis as { Deno?: { args: string[] } }).Deno;
  return deno?.args ?? process.argv.slice(2);
}

/** A positive integer argument, or `fallback` when it is absent. */
export function intArg(
  args: string[],
  index: number,
  fallback: number,
): number {
  const text = args[index];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`argument ${index + 1} must be an integer: ${text}`);
  }
  return n;
}

/** Resolves after `ms` milliseconds (one timer, no polling). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs a full garbage collection if the runtime lets us: `Bun.gc(true)` in
 * Bun, `gc()` in Deno started with `--v8-flags=--expose-gc`. Returns whether
 * it did.
 */
export function collectGarbage(): boolean {
  const g = globalThis as {
    Bun?: { gc(force: boolean): void };
    gc?: () => void;
  };
  if (g.Bun !== undefined) {
    g.Bun.gc(true);
    return true;
  }
  if (typeof g.gc === "function") {
    // Twice: the first pass may only queue finalizers.
    g.gc();
    g.gc();
    return true;
  }
  return false;
}

/** Bytes of JS heap in use and of resident memory. */
export interface Memory {
  heapUsed: number;
  rss: number;
}

/** The current JS heap use and RSS, after a forced GC when possible. */
export function memory(): Memory {
  collectGarbage();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

/** Nearest-rank percentile of `values` (sorted here), in their unit. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  const i = Math.min(
    sorted.length - 1,
    Math.ceil((p / 100) * sorted.length) - 1,
  );
  return sorted[Math.max(0, i)]!;
}

/** Rounds to `digits` decimals for the JSON line. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The runtime's name, for error messages. */
export const RUNTIME: "bun" | "deno" = "Bun" in globalThis ? "bun" : "deno";

/** What the ping-pong clients use of fdpass's async UnixSocket. */
export interface PingPongSocket {
  send(data: Uint8Array, fds: readonly number[]): Promise<number>;
  receive(
    buffer: Uint8Array,
    options: { maxFds: number },
  ): Promise<{ bytes: number; eof: boolean; fds: { close(): void }[] }>;
}

/**
 * The fdpass ping-pong client, built as the floor's `rawPingPong`
 * (`_raw.ts`) is, so that the two differ only in the calls: each round
 * trip `await send(64 B, [devnull])`, then `await receive()` until 64 B are
 * in, closing each fd that came back (exactly one must have), all in one
 * loop. The returned function runs `rounds` round trips, pushing each one's
 * ns to `rtt` when given.
 */
export function fdpassPingPong(
  sock: PingPongSocket,
  devnull: number,
): (rounds: number, rtt?: number[]) => Promise<void> {
  const payload = new Uint8Array(64).fill(0x70);
  const buf = new Uint8Array(64);
  const fds = [devnull];
  const opts = { maxFds: 1 };
  return async (rounds, rtt) => {
    for (let i = 0; i < rounds; i++) {
      const t0 = rtt === undefined ? 0 : performance.now();
      await sock.send(payload, fds);
      let got = 0;
      let nfds = 0;
      while (got < 64) {
        const r = await sock.receive(
          got === 0 ? buf : buf.subarray(got),
          opts,
        );
        for (const fd of r.fds) fd.close();
        if (r.eof) throw new Error("server closed the connection");
        nfds += r.fds.length;
        got += r.bytes;
      }
      if (nfds !== 1) throw new Error(`expected 1 fd, got ${nfds}`);
      rtt?.push(Math.round((performance.now() - t0) * 1e6));
    }
  };
}
