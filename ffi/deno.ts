/**
 * The `Deno.dlopen` adapter. Declares the few Deno FFI types it uses itself,
 * so the package type-checks under Bun's types too.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import { FfiUnavailableError } from "./errors.ts";
import { libcNames, libcSymbols, type NeutralType } from "./symbols.ts";
import type { EpollDelivery, EpollPump, Libc } from "./types.ts";
import { bindLibc, type Native } from "./_bind.ts";
import {
  isFixedArrayBuffer,
  viewBuffer,
  viewLength,
  viewOffset,
} from "../platform/_views.ts";

type Pointer = object | null;

interface DenoFfi {
  dlopen(
    path: string,
    symbols: Record<string, unknown>,
  ): { symbols: Record<string, Native> };
  UnsafePointer: {
    of(view: ArrayBufferView): Pointer;
    value(pointer: Pointer): number | bigint;
  };
  UnsafePointerView: new (
    pointer: object,
  ) => { getInt32(offset: number): number };
}

const bases = new WeakMap<ArrayBuffer, number>();
// The two most recent hits, held strongly (two buffers kept alive at most).
let recent0: ArrayBuffer | undefined;
let recentBase0 = 0;
let recent1: ArrayBuffer | undefined;
let recentBase1 = 0;

const DENO_TYPES: Record<NeutralType, string> = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  buffer: "buffer",
  pointer: "pointer",
  void: "void",
};

function isPermissionError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "NotCapable" || name === "PermissionDenied";
}

/** Binds libc through `Deno.dlopen`. */
export function openDenoLibc(platform: PlatformLayout): Libc {
  const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const table: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(libcSymbols(platform.os))) {
    table[key] = {
      name: spec.name ?? key,
      parameters: spec.parameters.map((t) => DENO_TYPES[t]),
      result: DENO_TYPES[spec.result],
      nonblocking: spec.nonblocking ?? false,
    };
  }
  let symbols: Record<string, Native> | undefined;
  let lastError: unknown;
  for (const name of libcNames(platform.os, platform.arch)) {
    try {
      symbols = deno.dlopen(name, table).symbols;
      break;
    } catch (error) {
      if (isPermissionError(error)) {
        throw new FfiUnavailableError(
          "fdpass needs FFI access: run Deno with --allow-ffi (it needs no other permission)",
          { cause: error },
        );
      }
      lastError = error;
    }
  }
  if (symbols === undefined) {
    throw new FfiUnavailableError(
      `fdpass could not load the C library (tried ${
        libcNames(platform.os, platform.arch).join(", ")
      })`,
      { cause: lastError },
    );
  }
  const errnoPointer = symbols.errno!() as Pointer;
  if (errnoPointer === null) {
    throw new FfiUnavailableError("fdpass could not locate errno");
  }
  const errnoView = new deno.UnsafePointerView(errnoPointer);
  return bindLibc(
    "deno",
    platform,
    symbols,
    () => errnoView.getInt32(0),
    (view) => {
      // Length, offset and buffer come from the engine's own getters: the
      // view's properties can be shadowed and would feed the address.
      if (viewLength(view) === 0) return 0;
      // Looking the address up costs ~300 ns (a BigInt round trip); a
      // fixed-length ArrayBuffer's storage never moves, so remember it.
      // Reading the buffer first moves a small on-heap array off the heap.
      const buffer = viewBuffer(view);
      // A send and a receive loop alternate between two buffers: remember
      // the last two without a WeakMap lookup (~50 ns each in V8).
      if (buffer === recent0) return recentBase0 + viewOffset(view);
      if (buffer === recent1) return recentBase1 + viewOffset(view);
      let base = bases.get(buffer as ArrayBuffer);
      if (base === undefined) {
        const here = Number(
          deno.UnsafePointer.value(deno.UnsafePointer.of(view)),
        );
        if (!isFixedArrayBuffer(buffer)) return here;
        base = here - viewOffset(view);
        bases.set(buffer as ArrayBuffer, base);
      }
      recent1 = recent0;
      recentBase1 = recentBase0;
      recent0 = buffer as ArrayBuffer;
      recentBase0 = base;
      return base + viewOffset(view);
    },
    (lib, epfd, wakeFd, deliver) =>
      denoEpollPump(lib, symbols, epfd, wakeFd, deliver),
  );
}

const MAX_EVENTS = 64;

/**
 * Keeps one nonblocking `epoll_wait` outstanding while resumed. Its promise
 * is a ref'd op, so the process stays alive exactly while something waits.
 * errno of that call lives on the pool thread: a -1 is simply waited again.
 */
function denoEpollPump(
  lib: Libc,
  symbols: Record<string, Native>,
  epfd: number,
  wakeFd: number,
  deliver: EpollDelivery,
): EpollPump {
  const size = lib.platform.epollEvent!.size;
  // Held by the closure for the pump's lifetime: the pool thread writes here.
  const events = new Uint8Array(new ArrayBuffer(size * MAX_EVENTS));
  const one = new Uint8Array(new BigUint64Array([1n]).buffer);
  const waitAsync = symbols.epollWaitAsync!;
  let active = false;
  let running = false;
  async function loop(): Promise<void> {
    running = true;
    try {
      while (active) {
        const n: number = await waitAsync(epfd, events, MAX_EVENTS, -1);
        if (n > 0) deliver(events, n);
      }
    } finally {
      running = false;
    }
  }
  return {
    resume(): void {
      active = true;
      if (!running) void loop();
    },
    pause(): void {
      if (!active) return;
      active = false;
      // End the outstanding wait so the process may exit.
      if (running) lib.write(wakeFd, one, 8);
    },
  };
}
