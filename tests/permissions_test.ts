/**
 * Deno permissions: importing fdpass needs none, using it needs
 * `--allow-ffi` and nothing else, and its absence is an error that names the
 * flag. Each case runs a Deno child with `--no-prompt`, so any other
 * permission the library touched would fail instead of prompting.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { noLeak, runScript, RUNTIME } from "./_helpers.ts";

const PEER = "tests/peers/sync_permissions.ts";
const SLOW = { timeout: 120_000 };

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
      await noLeak(async () => {
        const result = await runScript("deno", PEER, ["roundtrip"], {
          permissions: ["--allow-ffi"],
        });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, "");
        assert.deepEqual(JSON.parse(result.stdout), {
          bytes: 1,
          fds: 1,
          text: "through the passed fd",
        });
      });
    },
  );
});
