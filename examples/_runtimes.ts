/**
 * Shared by the examples that start a second runtime: where the pinned Bun
 * and Deno binaries are (`npm ci` puts them in node_modules/.bin; the
 * `FDPASS_BUN` / `FDPASS_DENO` variables override that, as in the tests),
 * and which runtime runs this process.
 *
 * @module
 */

import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The runtime running this process. */
export const RUNTIME: "bun" | "deno" = "Bun" in globalThis ? "bun" : "deno";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The path of the `bun` or `deno` binary to start. */
export function runtimeBinary(name: "bun" | "deno"): string {
  let override: string | undefined;
  try {
    override = process.env[name === "bun" ? "FDPASS_BUN" : "FDPASS_DENO"];
  } catch {
    // Deno without --allow-env: use the pinned binary.
  }
  return override ?? join(root, "node_modules/.bin", name);
}

/** The absolute path of `file` beside the module at `url`. */
export function beside(url: string, file: string): string {
  return join(dirname(fileURLToPath(url)), file);
}
