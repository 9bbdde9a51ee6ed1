/**
 * Deno permissions: importing fdpass needs none, using it needs
 * `--allow-ffi` and nothing else, and its absence is an error that names the
 * flag. Each case runs a Deno child with `--no-prompt`, so any other
 * permission the library touched would fail instead of prompting.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { libc } from "../ffi/mod.ts";
import { libcNames } from "../ffi/symbols.ts";
import { EMULATED, noLeak, runScript, RUNTIME } from "./_helpers.ts";

const PEER = "tests/peers/sync_permissions.ts";
const SLOW = { timeout: 120_000 };

/** The absolute paths fdpass tries for the C library, in its order. */
function libcPaths(): string[] {
  const { os, arch } = libc().platform;
  return libcNames(os, arch).filter((name) => name.startsWith("/"));
}

/**
 * The C library's absolute path on this machine, or why there is none:
 * under qemu-user the emulated runtime loads the aarch64 library from the
 * `-L` prefix by its bare name, and no standard path holds it.
 */
function libcPath(): { path: string; skip: false } | {
  path: "";
  skip: string;
} {
  if (EMULATED) {
    const reason =
      "qemu-user: the aarch64 C library is in the -L prefix, at no standard path";
    console.log(`[qemu] skipped: scoped --allow-ffi: ${reason}`);
    return { path: "", skip: reason };
  }
  const path = libcPaths().find((p) => existsSync(p));
  if (path !== undefined) return { path, skip: false };
  const reason = `no C library at a standard path (${libcPaths().join(", ")})`;
  console.log(`skipped: scoped --allow-ffi: ${reason}`);
  return { path: "", skip: reason };
}

/**
 * A Deno child run with `permission` alone passes a pipe over a socket pair
 * and uses it, reads errno back (EAGAIN) and waits on the reactor.
 */
async function roundTrip(permission: string): Promise<void> {
  await noLeak(async () => {
    const result = await runScript("deno", PEER, ["roundtrip"], {
      permissions: [permission],
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.deepEqual(JSON.parse(result.stdout), {
      bytes: 1,
      fds: 1,
      text: "through the passed fd",
      empty: "EAGAIN",
      late: 4,
    });
  });
}

describe(`Deno permissions, checked from ${RUNTIME}`, () => {
  test("importing mod.ts needs no permission", SLOW, async () => {
    await noLeak(async () => {
      const result = await runScript("deno", PEER, ["import"], {
        permissions: [],
      });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { imported: true });
      assert.equal(result.stderr, "");
    });
  });

  test(
    "without --allow-ffi, socketPair() throws FfiUnavailableError naming --allow-ffi",
    SLOW,
    async () => {
      await noLeak(async () => {
        const result = await runScript("deno", PEER, ["pair"], {
          permissions: [],
        });
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout) as Record<
          string,
          Record<string, unknown>
        >;
        const expected = {
          threw: true,
          ffiUnavailable: true,
          name: "FfiUnavailableError",
          code: "ERR_FFI_UNAVAILABLE",
        };
        for (const call of ["first", "second", "pipe"]) {
          const error = report[call]!;
          assert.deepEqual(
            {
              threw: error.threw,
              ffiUnavailable: error.ffiUnavailable,
              name: error.name,
              code: error.code,
            },
            expected,
            call,
          );
          assert.match(String(error.message), /--allow-ffi/);
          // Deno's own permission error is kept as the cause.
          assert.equal(error.causeName, "NotCapable");
        }
      });
    },
  );

  test(
    "with --allow-ffi alone, a Deno child passes a pipe and uses it",
    SLOW,
    async () => {
      await roundTrip("--allow-ffi");
    },
  );

  test(
    "with --allow-ffi scoped to the C library's path alone, a Deno child passes a pipe and uses it",
    { ...SLOW, skip: libcPath().skip },
    async () => {
      await roundTrip(`--allow-ffi=${libcPath().path}`);
    },
  );

  test(
    "with --allow-ffi scoped to another path, FfiUnavailableError names the C library's path to allow",
    { ...SLOW, skip: libcPath().skip },
    async () => {
      await noLeak(async () => {
        const result = await runScript("deno", PEER, ["pair"], {
          permissions: ["--allow-ffi=/nonexistent/fdpass/libc.so.6"],
        });
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout) as Record<
          string,
          Record<string, unknown>
        >;
        const error = report["first"]!;
        assert.equal(error["name"], "FfiUnavailableError");
        assert.equal(error["causeName"], "NotCapable");
        const message = String(error["message"]);
        // The first candidate is named as the flag; this machine's path,
        // if another, is among the alternatives.
        assert.ok(
          message.includes(`--allow-ffi=${libcPaths()[0]}`),
          message,
        );
        assert.ok(message.includes(libcPath().path), message);
      });
    },
  );
});
