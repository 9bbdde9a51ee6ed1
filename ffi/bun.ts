/**
 * The `bun:ffi` adapter. `bun:ffi` is reached through `import.meta.require`,
 * which Bun resolves synchronously and Deno never evaluates, so the package
 * needs no top-level await and Deno never sees the specifier.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import { bindLibc, type Native } from "./_bind.ts";
import { FfiUnavailableError } from "./errors.ts";
import { libcNames, libcSymbols, type NeutralType } from "./symbols.ts";
import type { BlockingCalls, Libc } from "./types.ts";

interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, unknown>,
  ): { symbols: Record<string, Native> };
  ptr(view: ArrayBufferView): number;
  read: { i32(pointer: number, offset: number): number };
}

const BUN_TYPES: Record<NeutralType, string> = {
  i32: "i32",
  u32: "u32",
  usize: "u64",
  i64: "i64",
  buffer: "ptr",
  pointer: "ptr",
  void: "void",
};

function loadBunFfi(): BunFfi {
  const meta = import.meta as unknown as {
    require?: (specifier: string) => unknown;
  };
  if (typeof meta.require !== "function") {
    throw new FfiUnavailableError("fdpass could not load bun:ffi");
  }
  return meta.require("bun:ffi") as BunFfi;
}

/** Binds libc through `bun:ffi`. */
export function openBunLibc(platform: PlatformLayout): Libc {
  const ffi = loadBunFfi();
  const table: Record<string, unknown> = {};
  const optional: Record<string, unknown> = {};
  const rename: Record<string, string> = {};
  for (const [key, spec] of Object.entries(libcSymbols(platform.os))) {
    // bun:ffi has no nonblocking calls; Bun waits in a Worker instead.
    if (spec.nonblocking || spec.denoOnly) continue;
    const name = spec.name ?? key;
    rename[name] = key;
    (spec.optional ? optional : table)[name] = {
      args: spec.parameters.map((t) => BUN_TYPES[t]),
      returns: BUN_TYPES[spec.result],
    };
  }
  let raw: Record<string, Native> | undefined;
  let library = "";
  let lastError: unknown;
  for (const name of libcNames(platform.os, platform.arch)) {
    try {
      raw = ffi.dlopen(name, table).symbols;
      library = name;
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (raw === undefined) {
    throw new FfiUnavailableError(
      `fdpass could not load the C library (tried ${
        libcNames(platform.os, platform.arch).join(", ")
      })`,
      { cause: lastError },
    );
  }
  // bun:ffi has no per-symbol alias, so symbols are bound by their C names.
  const symbols: Record<string, Native> = {};
  for (const [name, fn] of Object.entries(raw)) symbols[rename[name]!] = fn;
  // bun:ffi refuses a table with a missing symbol: bind each optional one
  // alone, and leave it out where this C library lacks it.
  for (const [name, definition] of Object.entries(optional)) {
    try {
      const fn = ffi.dlopen(library, { [name]: definition }).symbols[name];
      if (fn !== undefined) symbols[rename[name]!] = fn;
    } catch {
      // Absent here: the wrapper answers ENOSYS.
    }
  }
  const errnoPointer = symbols["errno"]!() as number;
  const read32 = ffi.read.i32;
  const ptr = ffi.ptr;
  const lib = bindLibc(
    "bun",
    platform,
    symbols,
    () => read32(errnoPointer, 0),
    // bun:ffi's ptr() reads the view's real storage (callers pass only
    // views they just found non-empty through the engine's own getter).
    ptr,
    (lib) => bunBlockingCalls(library, (fd) => lib.close(fd), lib.mainThread),
    (name) => {
      const env = (globalThis as { process?: { env?: Record<string, string> } })
        .process?.env;
      return env?.[name];
    },
    (globalThis as unknown as { Bun: { isMainThread: boolean } }).Bun
      .isMainThread,
  );
  // Bun keeps its own copy of the environment in process.env (set and
  // delete there do not reach the C environment): read and clear that one
  // as well, since it is what Bun programs and node:child_process use.
  const env = (globalThis as unknown as {
    process: { env: Record<string, string | undefined> };
  }).process.env;
  const unsetC = lib.unsetenv;
  lib.getenv = (name) => env[name];
  lib.unsetenv = (name) => {
    delete env[name];
    return unsetC(name);
  };
  return lib;
}

interface BunWorker {
  onmessage: ((event: { data: BlockingResult | "closing" }) => void) | null;
  addEventListener(type: "close", listener: () => void): void;
  postMessage(message: unknown): void;
  ref(): void;
  unref(): void;
}

interface BlockingResult {
  readonly result: number;
  readonly bytes: Uint8Array;
}

/**
 * The longest one poll runs. The reactor closes its descriptors when the
 * last waiting socket closes (a Worker at once: it may end without running
 * JS again; the main thread on the next turn), even while a call is in
 * flight. A call the helper has not taken yet is
 * cancelled first, and the wake pipe's read end of one it has taken is
 * closed by the helper itself once that poll returns (at once: the pipe
 * lost its writer), so a set never names a reused number; the bound is a
 * backstop. Ten seconds, not Deno's one: each bound that expires costs Bun
 * about a millisecond of CPU (two Worker messages), and a process waiting
 * idle stays under 0.2 % CPU this way.
 */
const POLL_BOUND_MS = 10_000;

/** How long the helper Worker stays after its last call. */
const HELPER_GRACE_MS = 250;

/**
 * The longest a Worker's `close()` waits for its helper to close a wake
 * pipe's read end handed over mid-call (see `closeAfterCall`).
 */
const CLOSING_WAIT_MS = 1000;

/**
 * The call's state, in memory shared with the helper (`state[0]`): posted
 * by this thread, taken (`POLLING`) by the helper just before poll(2),
 * cancelled by this thread before the helper took it, or handed back
 * (`CLOSING`): the descriptor in `state[1]` must be closed by the helper
 * when its poll returns. Only a call still posted is made. `state[2]` is 1
 * once the current helper has bound poll(2): one that ends before then
 * could not start.
 */
const IDLE = 0;
const POSTED = 1;
const POLLING = 2;
const CANCELLED = 3;
const CLOSING = 4;

// One poll per message: the worker returns to its event loop after each, so
// the next set can reach it. After HELPER_GRACE_MS without a call it says
// "closing" and ends itself, taking its event loop's descriptors with it,
// so that an idle process holds none. (A Worker that ends stops its helper
// too, in Bun 1.4.4, whatever the helper was doing: see closeAfterCall.)
// Its onmessage is installed synchronously and it has no top-level await: a
// message posted before a module finishes evaluating is lost.
const WORKER_SOURCE = `
import { dlopen } from "bun:ffi";
let poll;
let close;
let state;
let timer;
let closing = false;
self.onmessage = (event) => {
  // Once it said "closing", the main thread posts the call again elsewhere.
  if (closing) return;
  const m = event.data;
  clearTimeout(timer);
  if (m.library !== undefined) {
    ({ poll, close } = dlopen(m.library, {
      poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
      close: { args: ["i32"], returns: "i32" },
    }).symbols);
    state = m.state;
    Atomics.store(state, 2, 1);
  } else {
    let result = -1;
    // A cancelled call names descriptors that may be closed and reused.
    if (Atomics.compareExchange(state, 0, ${POSTED}, ${POLLING}) === ${POSTED}) {
      result = poll(m.fds, m.count, ${POLL_BOUND_MS});
      // The caller's thread gave the wake pipe's read end over while this
      // poll could still read its number: it is closed only now.
      if (Atomics.compareExchange(state, 0, ${POLLING}, ${IDLE}) !== ${POLLING}) {
        close(Atomics.load(state, 1));
        Atomics.store(state, 0, ${IDLE});
        Atomics.notify(state, 0);
      }
    }
    postMessage({ result, bytes: m.fds });
  }
  timer = setTimeout(() => {
    closing = true;
    postMessage("closing");
    self.close();
  }, ${HELPER_GRACE_MS});
};
`;

/**
 * A helper Worker makes the blocking calls, one per message, and answers
 * with `postMessage`. It is ref'd while a call is outstanding and unref'd
 * otherwise, so an idle process exits on its own. It ends itself when idle
 * (Bun would otherwise keep it, and its two descriptors, after the Worker
 * that made it has ended); a call that crossed its "closing" goes to a new
 * one.
 */
function bunBlockingCalls(
  library: string,
  closeNow: (fd: number) => void,
  mainThread: boolean,
): BlockingCalls {
  const g = globalThis as unknown as {
    Worker: new (url: string) => BunWorker;
    URL: { createObjectURL(blob: Blob): string };
  };
  const url = g.URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "application/javascript" }),
  );
  const state = new Int32Array(new SharedArrayBuffer(12));
  let worker: BunWorker | undefined;
  let pending:
    | {
      message: object;
      settle: (result: BlockingResult) => void;
      fail: (error: unknown) => void;
    }
    | undefined;
  function fail(error: unknown): void {
    const failed = pending;
    pending = undefined;
    failed?.fail(error);
  }
  function send(): void {
    if (worker === undefined) {
      Atomics.store(state, 2, 0);
      const w = new g.Worker(url);
      // The helper said "closing" (orderly), or ended without a word (its
      // "closing" lost, or its thread gone), whichever comes first: a call
      // posted to it since goes to a new one, so that no wait hangs on a
      // dead Worker. One that ended before it bound poll(2) failed to start
      // (it could not load bun:ffi, say): the call fails rather than start
      // helper after helper. (Shared memory says so: a message may come
      // after the Worker's end, or not at all.)
      const gone = (orderly: boolean): void => {
        if (worker !== w) return;
        worker = undefined;
        w.unref();
        if (pending === undefined) return;
        if (!orderly && Atomics.load(state, 2) === 0) {
          return fail(new Error("fdpass: the helper Worker ended at start"));
        }
        try {
          send();
        } catch (error) {
          fail(error);
        }
      };
      w.onmessage = (event) => {
        const data = event.data;
        if (data === "closing") return gone(true);
        if (worker !== w) return;
        const done = pending;
        pending = undefined;
        w.unref();
        done?.settle(data);
      };
      w.addEventListener("close", () => gone(false));
      w.postMessage({ library, state });
      worker = w;
    }
    worker.ref();
    worker.postMessage(pending!.message);
  }
  return {
    poll(fds, count): Promise<number> {
      if (pending !== undefined) {
        throw new Error("fdpass: internal error: two blocking calls at once");
      }
      // Posting copies the set: the caller's buffer stays untouched until
      // the answer is copied back.
      const message = { fds: fds.slice(), count };
      Atomics.store(state, 0, POSTED);
      return new Promise<number>((resolve, reject) => {
        pending = {
          message,
          settle: ({ result, bytes }) => {
            fds.set(bytes);
            resolve(result);
          },
          fail: reject,
        };
        try {
          send();
        } catch (error) {
          // No helper (the Worker could not start): the call fails, and
          // the next one may try again.
          fail(error);
        }
      });
    },
    closeAfterCall(fd): void {
      // Not taken yet: the helper will skip the call.
      const was = Atomics.compareExchange(state, 0, POSTED, CANCELLED);
      if (was === POLLING) {
        // Taken: the helper is in poll(2) or about to enter it, with fd in
        // its set, and fd must keep its number until that poll has read it.
        // The caller closed the wake pipe's write end, so the poll returns
        // at once; the helper closes fd then, unless it is already past.
        Atomics.store(state, 1, fd);
        if (
          Atomics.compareExchange(state, 0, POLLING, CLOSING) === POLLING
        ) {
          // A Worker may end right after this (its last socket closed),
          // and its helper's JS ends with it, possibly before the helper
          // came back to close fd: there, wait for that (its poll has just
          // lost the wake pipe's writer and returns at once; measured, it
          // adds 0.1-0.3 ms to such a close()), within a bound. After the
          // bound fd stays the helper's to close: closing it here could
          // close it twice.
          if (!mainThread) Atomics.wait(state, 0, CLOSING, CLOSING_WAIT_MS);
          return;
        }
      }
      closeNow(fd);
    },
  };
}
