/**
 * The `Deno.dlopen` adapter. Declares the few Deno FFI types it uses itself,
 * so the package type-checks under Bun's types too.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import { FfiUnavailableError } from "./errors.ts";
import { libcNames, libcSymbols, type NeutralType } from "./symbols.ts";
import type { BlockingCalls, Libc } from "./types.ts";
import { bindLibc, type Native } from "./_bind.ts";

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
  permissions: {
    querySync?(descriptor: { name: "env"; variable: string }): {
      state: string;
    };
  };
  env: { get(name: string): string | undefined };
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
      if (view.byteLength === 0) return 0;
      // Looking the address up costs ~300 ns (a BigInt round trip); a
      // fixed-length ArrayBuffer's storage never moves, so remember it.
      // Reading `.buffer` first moves a small on-heap array off the heap.
      const buffer = view.buffer as ArrayBuffer & { resizable?: boolean };
      // A send and a receive loop alternate between two buffers: remember
      // the last two without a WeakMap lookup (~50 ns each in V8).
      if (buffer === recent0) return recentBase0 + view.byteOffset;
      if (buffer === recent1) return recentBase1 + view.byteOffset;
      let base = bases.get(buffer);
      if (base === undefined) {
        const here = Number(
          deno.UnsafePointer.value(deno.UnsafePointer.of(view)),
        );
        if (buffer.resizable === true || !(buffer instanceof ArrayBuffer)) {
          return here;
        }
        base = here - view.byteOffset;
        bases.set(buffer, base);
      }
      recent1 = recent0;
      recentBase1 = recentBase0;
      recent0 = buffer;
      recentBase0 = base;
      return base + view.byteOffset;
    },
    () => denoBlockingCalls(symbols),
    (name) => denoEnvironment(deno, name),
  );
}

/**
 * Reads `name` only where that needs no prompt: without `--allow-env` (for
 * it) the answer is `undefined`, as if it were unset.
 */
function denoEnvironment(deno: DenoFfi, name: string): string | undefined {
  try {
    const status = deno.permissions.querySync?.({
      name: "env",
      variable: name,
    });
    if (status?.state !== "granted") return undefined;
    return deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The blocking calls as `nonblocking` FFI symbols on Deno's blocking pool.
 * Each pending call is a ref'd op, so the process stays alive exactly while
 * one is outstanding. Its errno lives on the pool thread and is lost.
 */
function denoBlockingCalls(symbols: Record<string, Native>): BlockingCalls {
  const pollAsync = symbols.pollAsync!;
  return { poll: (fds, count) => pollAsync(fds, count, -1) };
}
