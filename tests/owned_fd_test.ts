/**
 * `OwnedFd` and `pipe()`: exactly one owner per descriptor, and the basic
 * operations (read, write, dup) that work on received descriptors in both
 * runtimes, since Deno's `node:fs` refuses descriptors it did not open.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClosedError, OwnedFd, pipe, socketPair, SystemError } from "../mod.ts";
import { inodeOf, noLeak, openFds, RUNTIME } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function text(buffer: Uint8Array, length: number = buffer.length): string {
  return decoder.decode(buffer.subarray(0, length));
}

const O_CLOEXEC = 0o2000000;

/** Reads the `flags:` line of /proc/self/fdinfo/N (octal open flags). */
function closeOnExec(fd: number): boolean {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  const match = /^flags:\s+([0-7]+)$/m.exec(info);
  assert.ok(match, `no flags line in /proc/self/fdinfo/${fd}`);
  return (parseInt(match[1]!, 8) & O_CLOEXEC) !== 0;
}

/** A descriptor number nobody has open (fds are allocated lowest first). */
function unusedFd(): number {
  return Math.max(...openFds().keys()) + 1000;
}

function systemError(
  code: string,
  syscall: string,
): (error: unknown) => boolean {
  return (error: unknown): boolean => {
    assert.ok(
      error instanceof SystemError,
      `expected a SystemError, got ${String(error)}`,
    );
    assert.equal(error.code, code);
    assert.equal(error.syscall, syscall);
    assert.ok(error.errno > 0);
    return true;
  };
}

/** A fresh file in a private temporary directory, opened read-write. */
function withTempFile<T>(body: (fd: number, path: string) => T): T {
  const directory = mkdtempSync(join(tmpdir(), "fdpass-owned-"));
  const path = join(directory, "file");
  const fd = openSync(path, "w+");
  try {
    return body(fd, path);
  } finally {
    closeSync(fd);
    rmSync(directory, { recursive: true, force: true });
  }
}

describe(`pipe() (${RUNTIME})`, () => {
  test("pipe() returns a read end and a write end of one pipe, both close-on-exec", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      assert.ok(r instanceof OwnedFd && w instanceof OwnedFd);
      assert.notEqual(r.fd, w.fd);
      assert.match(inodeOf(r.fd), /^pipe:\[\d+\]$/);
      assert.equal(inodeOf(r.fd), inodeOf(w.fd));
      assert.ok(closeOnExec(r.fd));
      assert.ok(closeOnExec(w.fd));
      assert.equal(w.writeSync(bytes("through the pipe")), 16);
      const buffer = new Uint8Array(32);
      assert.equal(text(buffer, r.readSync(buffer)), "through the pipe");
      r.close();
      w.close();
    });
  });
});

describe(`OwnedFd read and write (${RUNTIME})`, () => {
  test("readSync() fills at most the buffer and returns 0 at end of file", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      w.writeSync(bytes("abcdef"));
      w.close();
      const small = new Uint8Array(4);
      assert.equal(r.readSync(small), 4);
      assert.equal(text(small), "abcd");
      assert.equal(r.readSync(small), 2);
      assert.equal(text(small, 2), "ef");
      assert.equal(r.readSync(small), 0);
      r.close();
    });
  });

  test("readSync() and writeSync() take only a Uint8Array", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      assert.throws(() => w.writeSync("x" as unknown as Uint8Array), TypeError);
      assert.throws(
        () => r.readSync(new ArrayBuffer(4) as unknown as Uint8Array),
        TypeError,
      );
      r.close();
      w.close();
    });
  });

  test("writeSync() on a read end and readSync() on a write end fail with EBADF", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      assert.throws(
        () => r.writeSync(bytes("x")),
        systemError("EBADF", "write"),
      );
      assert.throws(
        () => w.readSync(new Uint8Array(1)),
        systemError("EBADF", "read"),
      );
      try {
        r.writeSync(bytes("x"));
      } catch (error) {
        assert.equal(
          (error as Error).message,
          "Cannot write: write() failed with EBADF (bad file descriptor)",
        );
      }
      r.close();
      w.close();
    });
  });

  test("writeSync() to a pipe without a reader fails with EPIPE", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      r.close();
      assert.throws(
        () => w.writeSync(bytes("x")),
        systemError("EPIPE", "write"),
      );
      w.close();
    });
  });

  test("a received OwnedFd reads and writes the sender's file, at the shared offset", async () => {
    await noLeak(() => {
      withTempFile((fd, path) => {
        // Through the path: the descriptor's offset stays at 0.
        writeFileSync(path, "sender wrote;");
        const [a, b] = socketPair();
        a.sendSync(bytes("f"), [fd]);
        const { fds: [received] } = b.receiveSync(new Uint8Array(1));
        assert.ok(received);
        const buffer = new Uint8Array(64);
        assert.equal(text(buffer, received.readSync(buffer)), "sender wrote;");
        received.writeSync(bytes("receiver wrote"));
        assert.equal(readFileSync(path, "utf8"), "sender wrote;receiver wrote");
        // /proc/self/fd/N reaches a received fd from any runtime.
        assert.equal(
          readFileSync(`/proc/self/fd/${received.fd}`, "utf8"),
          "sender wrote;receiver wrote",
        );
        received.close();
        a.close();
        b.close();
      });
    });
  });
});

describe(`OwnedFd dup() (${RUNTIME})`, () => {
  test("dup() returns a new close-on-exec number for the same open file", async () => {
    await noLeak(() => {
      withTempFile((fd, path) => {
        const [a, b] = socketPair();
        a.sendSync(bytes("f"), [fd]);
        const { fds: [original] } = b.receiveSync(new Uint8Array(1));
        assert.ok(original);
        const copy = original.dup();
        assert.ok(copy instanceof OwnedFd);
        assert.notEqual(copy.fd, original.fd);
        assert.notEqual(copy.fd, fd);
        assert.equal(inodeOf(copy.fd), inodeOf(original.fd));
        assert.ok(closeOnExec(copy.fd));
        // The same open file description: one offset for both.
        original.writeSync(bytes("one;"));
        copy.writeSync(bytes("two;"));
        // Closing the original leaves the duplicate working.
        original.close();
        copy.writeSync(bytes("three"));
        assert.equal(readFileSync(path, "utf8"), "one;two;three");
        copy.close();
        a.close();
        b.close();
      });
    });
  });

  test("a dup() of a pipe's write end keeps the pipe open until both are closed", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      const copy = w.dup();
      w.close();
      copy.writeSync(bytes("still open"));
      copy.close();
      const buffer = new Uint8Array(32);
      assert.equal(text(buffer, r.readSync(buffer)), "still open");
      assert.equal(r.readSync(buffer), 0);
      r.close();
    });
  });
});

describe(`OwnedFd ownership (${RUNTIME})`, () => {
  test("release() hands the number out without closing it", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      const target = inodeOf(w.fd);
      const number = w.release();
      assert.equal(w.closed, true);
      assert.throws(() => w.fd, ClosedError);
      assert.throws(() => w.release(), ClosedError);
      w.close(); // a no-op: the object no longer owns anything
      assert.equal(openFds().get(number), target);
      const owner = new OwnedFd(number);
      owner.writeSync(bytes("r"));
      owner.close();
      const buffer = new Uint8Array(4);
      assert.equal(r.readSync(buffer), 1);
      assert.equal(r.readSync(buffer), 0);
      r.close();
    });
  });

  test("close() is idempotent and every later use throws ClosedError", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      const number = r.fd;
      assert.equal(String(r), `OwnedFd(${number})`);
      r.close();
      r.close();
      assert.equal(r.closed, true);
      assert.equal(String(r), "OwnedFd(closed)");
      const uses: (() => unknown)[] = [
        () => r.fd,
        () => r.readSync(new Uint8Array(1)),
        () => r.writeSync(bytes("x")),
        () => r.dup(),
        () => r.release(),
      ];
      for (const use of uses) {
        assert.throws(use, (error: unknown) => {
          assert.ok(error instanceof ClosedError);
          assert.equal(error.code, "ERR_CLOSED");
          assert.equal(error.name, "ClosedError");
          return true;
        });
      }
      // The write end sees that no reader is left.
      assert.throws(
        () => w.writeSync(bytes("x")),
        systemError("EPIPE", "write"),
      );
      w.close();
    });
  });

  test("`using` closes the descriptor at the end of the block", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      {
        using owned = w;
        owned.writeSync(bytes("x"));
      }
      assert.equal(w.closed, true);
      const buffer = new Uint8Array(4);
      assert.equal(r.readSync(buffer), 1);
      assert.equal(r.readSync(buffer), 0);
      r.close();
    });
  });

  test("close() reports EBADF when the number was closed behind the object's back", async () => {
    await noLeak(() => {
      const owned = new OwnedFd(unusedFd());
      assert.throws(() => owned.close(), systemError("EBADF", "close"));
      assert.equal(owned.closed, true);
      owned.close();
    });
  });

  test("the constructor accepts only a non-negative integer", () => {
    for (const bad of [-1, 1.5, NaN, Infinity, "3", null, 2 ** 31]) {
      assert.throws(
        () => new OwnedFd(bad as unknown as number),
        TypeError,
        String(bad),
      );
    }
  });
});
