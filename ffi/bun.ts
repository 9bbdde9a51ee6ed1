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
  const rename: Record<string, string> = {};
  for (const [key, spec] of Object.entries(libcSymbols(platform.os))) {
    // bun:ffi has no nonblocking calls; Bun waits in a Worker instead.
    if (spec.nonblocking) continue;
    const name = spec.name ?? key;
    rename[name] = key;
    table[name] = {
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
  const errnoPointer = symbols.errno!() as number;
  const read32 = ffi.read.i32;
  const ptr = ffi.ptr;
  return bindLibc(
    "bun",
    platform,
    symbols,
    () => read32(errnoPointer, 0),
    (view) => view.byteLength === 0 ? 0 : ptr(view),
    (lib) => bunBlockingCalls(lib, library),
    (name) => {
      const env = (globalThis as { process?: { env?: Record<string, string> } })
        .process?.env;
      return env?.[name];
    },
  );
}

interface BunWorker {
  onmessage: ((event: { data: BlockingResult }) => void) | null;
  postMessage(message: unknown): void;
  ref(): void;
  unref(): void;
}

interface BlockingResult {
  readonly result: number;
  readonly bytes: Uint8Array;
}

// One blocking call per message: the worker returns to its event loop after
// each, so the next request (and a new set for poll) can reach it. Its
// onmessage is installed synchronously and it has no top-level await: a
// message posted before a module finishes evaluating is lost.
const WORKER_SOURCE = `
import { dlopen } from "bun:ffi";
let symbols;
let events;
self.onmessage = (event) => {
  const m = event.data;
  if (m.library !== undefined) {
    const table = { poll: { args: ["ptr", "u64", "i32"], returns: "i32" } };
    if (m.linux) {
      table.epoll_wait = { args: ["i32", "ptr", "i32", "i32"], returns: "i32" };
    }
    symbols = dlopen(m.library, table).symbols;
    return;
  }
  if (m.fds !== undefined) {
    const result = symbols.poll(m.fds, m.count, -1);
    postMessage({ result, bytes: m.fds });
    return;
  }
  if (events === undefined || events.length !== m.max * m.size) {
    events = new Uint8Array(new ArrayBuffer(m.max * m.size));
  }
  const result = symbols.epoll_wait(m.epfd, events, m.max, -1);
  postMessage({ result, bytes: events.slice(0, Math.max(result, 0) * m.size) });
};
`;

/**
 * A helper Worker makes the blocking calls, one per message, and answers
 * with `postMessage`. It is ref'd while a call is outstanding and unref'd
 * otherwise, so an idle process exits on its own. It lives as long as the
 * thread that made it: its own event loop's two descriptors go with that
 * thread (a Worker's nested Workers end with it), so it holds nothing that
 * outlives a Worker using fdpass.
 */
function bunBlockingCalls(lib: Libc, library: string): BlockingCalls {
  const g = globalThis as unknown as {
    Worker: new (url: string) => BunWorker;
    URL: { createObjectURL(blob: Blob): string };
  };
  const url = g.URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "application/javascript" }),
  );
  const worker = new g.Worker(url);
  let settle: ((result: BlockingResult) => void) | undefined;
  worker.onmessage = (event) => {
    const done = settle;
    settle = undefined;
    worker.unref();
    done?.(event.data);
  };
  worker.postMessage({ library, linux: lib.platform.os === "linux" });
  worker.unref();
  function call(message: object): Promise<BlockingResult> {
    if (settle !== undefined) {
      throw new Error("fdpass: internal error: two blocking calls at once");
    }
    return new Promise((resolve) => {
      settle = resolve;
      worker.ref();
      worker.postMessage(message);
    });
  }
  return {
    async epollWait(epfd, events, max): Promise<number> {
      const size = lib.platform.epollEvent!.size;
      const { result, bytes } = await call({ epfd, max, size });
      events.set(bytes);
      return result;
    },
    async poll(fds, count): Promise<number> {
      // Posting copies the set: the caller's buffer stays untouched until
      // the answer is copied back.
      const { result, bytes } = await call({ fds: fds.slice(), count });
      fds.set(bytes);
      return result;
    },
  };
}
