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
import type { Libc } from "./types.ts";

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
    const name = spec.name ?? key;
    rename[name] = key;
    table[name] = {
      args: spec.parameters.map((t) => BUN_TYPES[t]),
      returns: BUN_TYPES[spec.result],
    };
  }
  let raw: Record<string, Native> | undefined;
  let lastError: unknown;
  for (const name of libcNames(platform.os, platform.arch)) {
    try {
      raw = ffi.dlopen(name, table).symbols;
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
  );
}
