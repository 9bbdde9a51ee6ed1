/**
 * OwnedFd.dup2(): a copy at a chosen number, close-on-exec as stated,
 * replacing what was there in one step; every wrong argument refused before
 * the call. The kernel's view is read from /proc/self/fd and fdinfo.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { ClosedError, pipe, SystemError } from "../mod.ts";
import { inodeOf, noLeak, openFds, RUNTIME } from "./_helpers.ts";

/** Whether the kernel has O_CLOEXEC on `fd` (fdinfo's octal flags). */
function closeOnExec(fd: number): boolean {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  const flags = /^flags:\s*([0-7]+)$/m.exec(info);
  assert.ok(flags !== null, info);
  return (parseInt(flags[1]!, 8) & 0o2000000) !== 0;
}

/** A number no descriptor of this process uses, above the usual ones. */
function freeNumber(): number {
  const open = openFds();
  for (let n = 200;; n++) if (!open.has(n)) return n;
}

for (const inherit of [false, true]) {
  test(
    `dup2() puts a copy of the same open file at the target number, closeOnExec: ${!inherit} (${RUNTIME})`,
    async () => {
      await noLeak(() => {
        const [r, w] = pipe();
        try {
          const target = freeNumber();
          using copy = w.dup2(target, { closeOnExec: !inherit });
          assert.equal(copy.fd, target);
          assert.equal(inodeOf(target), inodeOf(w.fd));
          assert.equal(closeOnExec(target), !inherit);
          // The original keeps its own flag (pipe() makes it close-on-exec).
          assert.equal(closeOnExec(w.fd), true);
          copy.writeSync(new Uint8Array([7]));
          const byte = new Uint8Array(1);
          assert.equal(r.readSync(byte), 1);
          assert.equal(byte[0], 7);
        } finally {
          r.close();
          w.close();
        }
      });
    },
  );
}

test(`dup2() onto an open number replaces what was there in one step (${RUNTIME})`, async () => {
  await noLeak(() => {
    const [r1, w1] = pipe();
    const [r2, w2] = pipe();
    try {
      // w2's number gets w1's file: its owner gives it up first.
      const target = w2.release();
      using copy = r1.dup2(target, { closeOnExec: true });
      assert.equal(copy.fd, target);
      assert.equal(inodeOf(target), inodeOf(r1.fd));
      // w2's pipe lost its only writer: its read end sees end of file.
      assert.equal(r2.readSync(new Uint8Array(1)), 0);
    } finally {
      for (const x of [r1, w1, r2]) x.close();
    }
  });
});

test(`dup2() refuses bad arguments before any call, and a closed descriptor (${RUNTIME})`, async () => {
  await noLeak(() => {
    const [r, w] = pipe();
    const before = openFds();
    try {
      const target = freeNumber();
      for (const options of [undefined, null, {}, { closeOnExec: 1 }]) {
        assert.throws(
          () => r.dup2(target, options as unknown as { closeOnExec: boolean }),
          TypeError,
        );
      }
      for (const bad of [-1, 1.5, 2 ** 31, Number.NaN, "5"]) {
        assert.throws(
          () => r.dup2(bad as number, { closeOnExec: true }),
          RangeError,
        );
      }
      assert.throws(() => r.dup2(r.fd, { closeOnExec: true }), RangeError);
      // Beyond any descriptor limit: the kernel says EBADF.
      assert.throws(
        () => r.dup2(0x7fff_fff0, { closeOnExec: true }),
        (error: unknown) =>
          error instanceof SystemError && error.code === "EBADF",
      );
      assert.deepEqual([...openFds().keys()], [...before.keys()]);
      const copy = r.dup2(target, { closeOnExec: true });
      copy.close();
      assert.throws(
        () => copy.dup2(target, { closeOnExec: true }),
        ClosedError,
      );
    } finally {
      r.close();
      w.close();
    }
  });
});

test(
  `a program this process execs finds the copy at its number with closeOnExec: false, and not with true (${RUNTIME})`,
  {
    // Bun's child_process closes every descriptor above 2 in the child.
    skip: RUNTIME === "bun"
      ? "Bun's spawn closes inherited descriptors above 2 itself"
      : false,
  },
  async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      try {
        const target = freeNumber();
        for (const closeOnExecFlag of [false, true]) {
          using copy = w.dup2(target, { closeOnExec: closeOnExecFlag });
          const seen = spawnSync("sh", [
            "-c",
            `readlink /proc/self/fd/${copy.fd} || echo none`,
          ], { encoding: "utf8" });
          assert.equal(
            seen.stdout.trim(),
            closeOnExecFlag ? "none" : inodeOf(w.fd),
          );
        }
      } finally {
        r.close();
        w.close();
      }
    });
  },
);
