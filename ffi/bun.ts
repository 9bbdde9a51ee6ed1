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
import type { EpollDelivery, EpollPump, Libc } from "./types.ts";
import { viewLength } from "../platform/_views.ts";

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
    // bun:ffi's ptr() reads the view's real storage; only the empty check
    // needs the engine's own length (a shadowed byteLength would lie).
    (view) => viewLength(view) === 0 ? 0 : ptr(view),
    (lib, epfd, _wakeFd, deliver) => bunEpollPump(lib, library, epfd, deliver),
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
  onmessage: ((event: { data: Uint8Array }) => void) | null;
  postMessage(message: unknown): void;
  ref(): void;
  unref(): void;
}

// The worker blocks in epoll_wait forever and posts each batch of events.
// Its onmessage is installed synchronously and it has no top-level await:
// a message posted before a module finishes evaluating is lost.
const WORKER_SOURCE = `
import { dlopen } from "bun:ffi";
let started = false;
self.onmessage = (event) => {
  if (started) return;
  started = true;
  const { library, epfd, size, max } = event.data;
  const { symbols } = dlopen(library, {
    epoll_wait: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
  });
  const events = new Uint8Array(new ArrayBuffer(size * max));
  for (;;) {
    const n = symbols.epoll_wait(epfd, events, max, -1);
    if (n > 0) postMessage(events.slice(0, n * size));
  }
};
`;

/**
 * A Worker blocked in `epoll_wait` reports events with `postMessage`. It is
 * ref'd while something waits and unref'd otherwise, so an idle process
 * exits on its own; it never needs waking, since arming and disarming are
 * `epoll_ctl` calls from the main thread.
 */
function bunEpollPump(
  lib: Libc,
  library: string,
  epfd: number,
  deliver: EpollDelivery,
): EpollPump {
  const size = lib.platform.epollEvent!.size;
  const g = globalThis as unknown as {
    Worker: new (url: string) => BunWorker;
    URL: { createObjectURL(blob: Blob): string };
  };
  const url = g.URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "application/javascript" }),
  );
  const worker = new g.Worker(url);
  worker.onmessage = (event) => deliver(event.data, event.data.length / size);
  worker.postMessage({ library, epfd, size, max: 64 });
  worker.unref();
  return {
    resume: () => worker.ref(),
    pause: () => worker.unref(),
  };
}
