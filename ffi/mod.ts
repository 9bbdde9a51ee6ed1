/**
 * Picks the adapter for the running runtime, once, on first use: Bun first
 * (a Bun process may carry a `Deno` polyfill; Deno never defines `Bun`), then
 * `Deno.dlopen`. Importing fdpass therefore needs no permission.
 *
 * @module
 */

import { platformFor } from "../platform/mod.ts";
import type { PlatformLayout } from "../platform/types.ts";
import { openBunLibc } from "./bun.ts";
import { openDenoLibc } from "./deno.ts";
import { FfiUnavailableError } from "./errors.ts";
import type { Libc } from "./types.ts";

export type { Libc, RuntimeName } from "./types.ts";
export { FfiUnavailableError } from "./errors.ts";

interface RuntimeGlobals {
  Bun?: unknown;
  process?: { platform?: string; arch?: string };
  Deno?: { dlopen?: unknown; build?: { os: string; arch: string } };
}

let cached: Libc | undefined;

function requirePlatform(os: string, arch: string): PlatformLayout {
  const platform = platformFor(os, arch);
  if (platform === null) {
    throw new FfiUnavailableError(
      `fdpass does not support ${os}/${arch} (supported: Linux, macOS and FreeBSD on x86_64 and aarch64)`,
    );
  }
  return platform;
}

function open(): Libc {
  const g = globalThis as RuntimeGlobals;
  if (g.Bun !== undefined) {
    return openBunLibc(
      requirePlatform(g.process?.platform ?? "", g.process?.arch ?? ""),
    );
  }
  if (typeof g.Deno?.dlopen === "function" && g.Deno.build !== undefined) {
    return openDenoLibc(requirePlatform(g.Deno.build.os, g.Deno.build.arch));
  }
  throw new FfiUnavailableError(
    "fdpass needs Bun or Deno: this runtime has neither bun:ffi nor Deno.dlopen",
  );
}

/** The process's libc binding, opened on first call. */
export function libc(): Libc {
  return cached ??= open();
}
