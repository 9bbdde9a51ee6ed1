/**
 * The `Deno.dlopen` adapter. Declares the few Deno FFI types it uses itself,
 * so the package type-checks under Bun's types too.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import { FfiUnavailableError } from "./errors.ts";
import { libcNames, libcSymbols, type NeutralType } from "./symbols.ts";
import type { Libc } from "./types.ts";
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
  UnsafePointerView: new (
    pointer: object,
  ) => { getInt32(offset: number): number };
}

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
    (view) =>
      view.byteLength === 0
        ? 0
        : Number(deno.UnsafePointer.value(deno.UnsafePointer.of(view))),
  );
}
