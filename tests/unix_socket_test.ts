/**
 * The synchronous `UnixSocket` API against the real kernel: crosvm's
 * ScmSocket tests, then one test per semantic of issue 2, across stream,
 * datagram and seqpacket sockets. Every body runs inside `noLeak`.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  bind,
  ClosedError,
  connect,
  ControlMessageError,
  listen,
  OwnedFd,
  pipe,
  SCM_MAX_FD,
  type SocketKind,
  socketPair,
  SystemError,
  UnixSocket,
} from "../mod.ts";
import { platformFor } from "../platform/mod.ts";
import {
  abstractName,
  inodeOf,
  noLeak,
  openFds,
  runScript,
  RUNTIME,
  skipUnderQemu,
} from "./_helpers.ts";

const KINDS: readonly SocketKind[] = ["stream", "dgram", "seqpacket"];
const MESSAGE_KINDS: readonly SocketKind[] = ["dgram", "seqpacket"];
const CONNECTED_KINDS: readonly SocketKind[] = ["stream", "seqpacket"];
const SLOW = { timeout: 120_000 };
const ERRNO = platformFor(process.platform, process.arch)!.errno;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function text(buffer: Uint8Array, length: number = buffer.length): string {
  return decoder.decode(buffer.subarray(0, length));
}

function closeAll(...items: readonly { close(): void }[]): void {
  for (const item of items) item.close();
}

const O_CLOEXEC = 0o2000000;

/** Reads the `flags:` line of /proc/self/fdinfo/N (octal open flags). */
function closeOnExec(fd: number): boolean {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  const match = /^flags:\s+([0-7]+)$/m.exec(info);
  assert.ok(match, `no flags line in /proc/self/fdinfo/${fd}`);
  return (parseInt(match[1]!, 8) & O_CLOEXEC) !== 0;
}

/** An assert.throws validator for a SystemError with `code` from `syscall`. */
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
    return true;
  };
}

/** The socket has nothing queued: a nonblocking receive fails with EAGAIN. */
function assertNothingQueued(socket: UnixSocket): void {
  assert.throws(
    () => socket.receiveSync(new Uint8Array(64), { nonblocking: true }),
    systemError("EAGAIN", "recvmsg"),
  );
}

/** A descriptor number nobody has open (fds are allocated lowest first). */
function unusedFd(): number {
  return Math.max(...openFds().keys()) + 1000;
}

/** Reads `fd` until end of file. */
function readAll(fd: OwnedFd): string {
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = fd.readSync(buffer);
    if (n === 0) return chunks.join("");
    chunks.push(text(buffer, n));
  }
}

/** A fresh file in a private temporary directory, opened read-write. */
function withTempFile<T>(body: (fd: number, path: string) => T): T {
  const directory = mkdtempSync(join(tmpdir(), "fdpass-sync-"));
  const path = join(directory, "file");
  const fd = openSync(path, "w+");
  try {
    return body(fd, path);
  } finally {
    closeSync(fd);
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Sends `count` messages of `size` nonblocking until the kernel says EAGAIN. */
function fill(socket: UnixSocket, size: number): unknown {
  const chunk = new Uint8Array(size);
  for (let i = 0; i < 100_000; i++) {
    try {
      socket.sendSync(chunk, [], { nonblocking: true });
    } catch (error) {
      return error;
    }
  }
  throw new Error("the socket buffer never filled");
}

/** Receives everything queued; returns the bytes and descriptors it got. */
function drain(socket: UnixSocket): { bytes: number; fds: OwnedFd[] } {
  const buffer = new Uint8Array(256 * 1024);
  let total = 0;
  const fds: OwnedFd[] = [];
  for (;;) {
    try {
      const r = socket.receiveSync(buffer, { nonblocking: true });
      total += r.bytes;
      fds.push(...r.fds);
    } catch (error) {
      if (error instanceof SystemError && error.code === "EAGAIN") {
        return { bytes: total, fds };
      }
      throw error;
    }
  }
}

describe(`crosvm's ScmSocket tests (${RUNTIME})`, () => {
  for (const kind of KINDS) {
    test(`${kind}: a message without fds delivers its bytes and no fds`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        assert.equal(a.kind, kind);
        assert.equal(a.sendSync(bytes("hello")), 5);
        const buffer = new Uint8Array(16);
        const r = b.receiveSync(buffer);
        assert.deepEqual(
          { ...r, text: text(buffer, r.bytes) },
          {
            bytes: 5,
            fds: [],
            truncated: false,
            eof: false,
            text: "hello",
            // A datagram says who sent it: here an unnamed socketpair end.
            ...(kind === "dgram" ? { from: "" } : {}),
          },
        );
        closeAll(a, b);
      });
    });

    test(`${kind}: data with an fd arrives with the fd as a new OwnedFd`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        assert.equal(a.sendSync(bytes("fd!"), [w]), 3);
        const buffer = new Uint8Array(16);
        const got = b.receiveSync(buffer);
        assert.equal(got.bytes, 3);
        assert.equal(text(buffer, got.bytes), "fd!");
        assert.equal(got.fds.length, 1);
        const received = got.fds[0]!;
        assert.ok(received instanceof OwnedFd);
        assert.notEqual(received.fd, w.fd);
        assert.equal(inodeOf(received.fd), inodeOf(w.fd));
        received.writeSync(bytes("through"));
        const out = new Uint8Array(16);
        assert.equal(text(out, r.readSync(out)), "through");
        closeAll(received, a, b, r, w);
      });
    });

    test(`${kind}: the received fd is the same open file as the sender's`, async () => {
      await noLeak(() => {
        withTempFile((fd, path) => {
          const [a, b] = socketPair(kind);
          a.sendSync(bytes("f"), [fd]);
          const { fds: [received] } = b.receiveSync(new Uint8Array(1));
          assert.ok(received);
          assert.equal(
            statSync(`/proc/self/fd/${received.fd}`).ino,
            statSync(path).ino,
          );
          assert.equal(inodeOf(received.fd), inodeOf(fd));
          // Written at the receiver, read back at the sender.
          received.writeSync(bytes("receiver wrote;"));
          // One open file description: the sender's write lands at the offset
          // the receiver's write advanced, not at 0.
          writeSync(fd, "sender wrote");
          assert.equal(
            readFileSync(path, "utf8"),
            "receiver wrote;sender wrote",
          );
          closeAll(received, a, b);
        });
      });
    });

    test(`${kind}: several fds in one message arrive in order`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const pipes = [pipe(), pipe(), pipe()];
        a.sendSync(bytes("three"), pipes.map(([, w]) => w));
        const { fds } = b.receiveSync(new Uint8Array(8));
        assert.equal(fds.length, 3);
        fds.forEach((received, i) => {
          assert.equal(inodeOf(received.fd), inodeOf(pipes[i]![1].fd));
          received.writeSync(bytes(`pipe ${i}`));
        });
        pipes.forEach(([r], i) => {
          const out = new Uint8Array(16);
          assert.equal(text(out, r.readSync(out)), `pipe ${i}`);
        });
        closeAll(...fds, a, b, ...pipes.flat());
      });
    });

    test(`${kind}: ${SCM_MAX_FD} fds (SCM_MAX_FD) arrive in one message, in order`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const pipes = Array.from({ length: SCM_MAX_FD }, () => pipe());
        const sent = pipes.map(([, w]) => w);
        a.sendSync(bytes("many"), sent);
        const { bytes: n, fds } = b.receiveSync(new Uint8Array(8));
        assert.equal(n, 4);
        assert.equal(fds.length, SCM_MAX_FD);
        assert.deepEqual(
          fds.map((fd) => inodeOf(fd.fd)),
          sent.map((fd) => inodeOf(fd.fd)),
        );
        assert.equal(new Set(fds.map((fd) => fd.fd)).size, SCM_MAX_FD);
        fds[SCM_MAX_FD - 1]!.writeSync(bytes("last"));
        const out = new Uint8Array(8);
        assert.equal(
          text(out, pipes[SCM_MAX_FD - 1]![0].readSync(out)),
          "last",
        );
        closeAll(...fds, a, b, ...pipes.flat());
      });
    });

    test(`${kind}: sendSync() gathers several buffers, receiveSync() scatters into several`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        const sent = a.sendSync(
          [bytes("ab"), new Uint8Array(0), bytes("cdefg")],
          [w],
        );
        assert.equal(sent, 7);
        const x = new Uint8Array(3);
        const y = new Uint8Array(10);
        const got = b.receiveSync([x, y]);
        assert.equal(got.bytes, 7);
        assert.equal(got.fds.length, 1);
        assert.equal(text(x), "abc");
        assert.equal(text(y, got.bytes - x.length), "defg");
        assert.equal(inodeOf(got.fds[0]!.fd), inodeOf(r.fd));
        closeAll(...got.fds, a, b, r, w);
      });
    });
  }

  for (const kind of MESSAGE_KINDS) {
    test(`${kind}: an fd without data arrives as a 0-byte message that is not end of stream`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        assert.equal(a.sendSync(new Uint8Array(0), [w]), 0);
        const got = b.receiveSync(new Uint8Array(8));
        assert.equal(got.bytes, 0);
        assert.equal(got.eof, false);
        assert.equal(got.fds.length, 1);
        assert.equal(inodeOf(got.fds[0]!.fd), inodeOf(w.fd));
        closeAll(...got.fds, a, b, r, w);
      });
    });
  }
});

describe(`ownership and close-on-exec (${RUNTIME})`, () => {
  for (const kind of KINDS) {
    test(`${kind}: sending borrows the caller's fds: they stay open and usable`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        a.sendSync(bytes("x"), [w, w.fd]);
        assert.equal(w.closed, false);
        w.writeSync(bytes("sender;"));
        const { fds } = b.receiveSync(new Uint8Array(1));
        assert.equal(fds.length, 2);
        // Each received fd is its own descriptor, owned by the receiver.
        assert.notEqual(fds[0]!.fd, fds[1]!.fd);
        w.close();
        fds[0]!.writeSync(bytes("first;"));
        fds[0]!.close();
        fds[1]!.writeSync(bytes("second"));
        fds[1]!.close();
        // Every write end is closed now: no hidden copy stayed open.
        assert.equal(readAll(r), "sender;first;second");
        closeAll(a, b, r);
      });
    });

    test(`${kind}: sockets from socketPair() and received fds are close-on-exec`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        assert.ok(closeOnExec(a.fd));
        assert.ok(closeOnExec(b.fd));
        // FD_CLOEXEC belongs to the descriptor, not the open file: the
        // received copy has it only if recvmsg asked for it.
        withTempFile((fd) => {
          a.sendSync(bytes("x"), [fd]);
          const { fds } = b.receiveSync(new Uint8Array(1));
          assert.equal(fds.length, 1);
          assert.ok(closeOnExec(fds[0]!.fd));
          closeAll(...fds);
        });
        closeAll(a, b);
      });
    });
  }

  for (const kind of CONNECTED_KINDS) {
    test(`${kind}: sockets from listen(), connect() and acceptSync() are close-on-exec`, async () => {
      await noLeak(() => {
        const name = abstractName(`cloexec-${kind}`);
        using listener = listen(name, { kind });
        using client = connect(name, { kind });
        using server = listener.acceptSync();
        assert.equal(server.kind, kind);
        for (const fd of [listener.fd, client.fd, server.fd]) {
          assert.ok(closeOnExec(fd), `fd ${fd} lacks O_CLOEXEC`);
        }
        assert.equal(server.peerAddress(), "");
        assert.equal(server.localAddress(), name);
        assert.equal(client.peerAddress(), name);
      });
    });
  }

  test("dgram: sockets from bind() and connect() are close-on-exec", async () => {
    await noLeak(() => {
      const name = abstractName("cloexec-dgram");
      using server = bind(name);
      using client = connect(name, { kind: "dgram" });
      assert.ok(closeOnExec(server.fd));
      assert.ok(closeOnExec(client.fd));
      client.sendSync(bytes("hi"));
      const buffer = new Uint8Array(4);
      assert.equal(server.receiveSync(buffer).bytes, 2);
    });
  });

  for (const kind of KINDS) {
    test(`${kind}: UnixSocket.fromFd() adopts a received socket and talks through it`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair("stream");
        const [c, d] = socketPair(kind);
        a.sendSync(bytes("s"), [d.fd]);
        d.close();
        const { fds: [received] } = b.receiveSync(new Uint8Array(1));
        assert.ok(received);
        const number = received.fd;
        using adopted = UnixSocket.fromFd(received);
        assert.equal(adopted.kind, kind);
        assert.equal(adopted.fd, number);
        // Ownership moved: the OwnedFd no longer holds the number.
        assert.equal(received.closed, true);
        const [r, w] = pipe();
        adopted.sendSync(bytes("via adopted"), [w]);
        const buffer = new Uint8Array(32);
        const got = c.receiveSync(buffer);
        assert.equal(text(buffer, got.bytes), "via adopted");
        assert.equal(inodeOf(got.fds[0]!.fd), inodeOf(w.fd));
        c.sendSync(bytes("back"));
        assert.equal(text(buffer, adopted.receiveSync(buffer).bytes), "back");
        closeAll(...got.fds, a, b, c, r, w);
      });
    });
  }

  test("UnixSocket.fromFd() refuses a non-socket with ENOTSOCK and leaves it open", async () => {
    await noLeak(() => {
      const [r, w] = pipe();
      assert.throws(
        () => UnixSocket.fromFd(r),
        systemError("ENOTSOCK", "getsockopt"),
      );
      assert.equal(r.closed, false);
      assert.ok(openFds().has(r.fd));
      assert.throws(() => UnixSocket.fromFd(-1), TypeError);
      assert.throws(() => UnixSocket.fromFd(1.5), TypeError);
      r.close();
      assert.throws(() => UnixSocket.fromFd(r), ClosedError);
      w.close();
    });
  });
});

describe(`send-side checks before any syscall (${RUNTIME})`, () => {
  for (const kind of KINDS) {
    test(`${kind}: ${SCM_MAX_FD + 1} fds throw a RangeError and send nothing`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        const fds = Array.from({ length: SCM_MAX_FD + 1 }, () => w);
        assert.throws(
          () => a.sendSync(bytes("x"), fds),
          (error: unknown) =>
            error instanceof RangeError &&
            error.message.includes(String(SCM_MAX_FD)),
        );
        assertNothingQueued(b);
        closeAll(a, b, r, w);
      });
    });

    test(`${kind}: -1, 1.5, NaN and "3" as fds throw a TypeError and send nothing`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        for (const bad of [-1, 1.5, NaN, "3", null, 2 ** 31]) {
          assert.throws(
            () => a.sendSync(bytes("x"), [w, bad as unknown as number]),
            TypeError,
            `fd ${String(bad)}`,
          );
        }
        assert.throws(
          () => a.sendSync(bytes("x"), w as unknown as number[]),
          TypeError,
        );
        assert.throws(
          () => a.sendSync("x" as unknown as Uint8Array, [w]),
          TypeError,
        );
        assertNothingQueued(b);
        closeAll(a, b, r, w);
      });
    });

    test(`${kind}: a closed OwnedFd in the list throws a ClosedError and sends nothing`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        r.close();
        assert.throws(() => a.sendSync(bytes("x"), [w, r]), ClosedError);
        assertNothingQueued(b);
        closeAll(a, b, w);
      });
    });

    test(`${kind}: a descriptor number that is not open fails with EBADF, delivers nothing, and the socket stays usable`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        assert.throws(
          () => a.sendSync(bytes("x"), [w, unusedFd()]),
          systemError("EBADF", "sendmsg"),
        );
        assertNothingQueued(b);
        a.sendSync(bytes("ok"), [w]);
        const got = b.receiveSync(new Uint8Array(4));
        assert.equal(got.bytes, 2);
        assert.equal(got.fds.length, 1);
        closeAll(...got.fds, a, b, r, w);
      });
    });
  }

  test("stream: fds with zero data bytes throw a RangeError and send nothing", async () => {
    await noLeak(() => {
      const [a, b] = socketPair("stream");
      const [r, w] = pipe();
      for (const empty of [new Uint8Array(0), [], [new Uint8Array(0)]]) {
        assert.throws(
          () => a.sendSync(empty, [w]),
          (error: unknown) =>
            error instanceof RangeError &&
            /at least one byte/.test(error.message),
        );
      }
      assertNothingQueued(b);
      // Zero bytes without fds is allowed and sends nothing.
      assert.equal(a.sendSync(new Uint8Array(0)), 0);
      assertNothingQueued(b);
      closeAll(a, b, r, w);
    });
  });

  test("receiveSync() rejects maxFds outside 0..253 with a RangeError", async () => {
    await noLeak(() => {
      const [a, b] = socketPair();
      for (const maxFds of [-1, 1.5, NaN, SCM_MAX_FD + 1]) {
        assert.throws(
          () => b.receiveSync(new Uint8Array(1), { maxFds }),
          RangeError,
        );
      }
      closeAll(a, b);
    });
  });
});

describe(`control buffer too small (${RUNTIME})`, () => {
  // qemu-user translates control messages itself and does not report
  // MSG_CTRUNC for a small buffer (tried-here.md).
  const skip = skipUnderQemu(
    "receiveSync() tests with a control buffer too small, every socket kind",
    "it does not report MSG_CTRUNC; fds beyond the control buffer stay open",
  );

  for (const kind of KINDS) {
    test(
      `${kind}: receiveSync() closes every delivered fd when the control buffer is too small`,
      {
        skip,
      },
      async () => {
        await noLeak(() => {
          const [a, b] = socketPair(kind);
          const [r, w] = pipe();
          a.sendSync(bytes("five"), [w, w, w, w, w]);
          const before = openFds();
          const error = (() => {
            try {
              b.receiveSync(new Uint8Array(8), { maxFds: 2 });
            } catch (error) {
              return error;
            }
            assert.fail("receiveSync() did not throw");
          })();
          assert.ok(error instanceof ControlMessageError);
          assert.equal(error.code, "ERR_CONTROL_TRUNCATED");
          assert.equal(error.name, "ControlMessageError");
          assert.equal(error.bytes, 4);
          assert.equal(error.closedFds, 2);
          assert.match(error.message, /were closed/);
          // Nothing opened by the receive is left: not the 2 delivered, not
          // the 3 the kernel dropped.
          assert.deepEqual([...openFds().keys()], [...before.keys()]);
          // Closing our write end must give the reader EOF: no copy survived.
          w.close();
          assert.equal(readAll(r), "");
          closeAll(a, b, r);
        });
      },
    );

    test(
      `${kind}: the socket receives the next message after a truncated one`,
      {
        skip,
      },
      async () => {
        await noLeak(() => {
          const [a, b] = socketPair(kind);
          const [r, w] = pipe();
          a.sendSync(bytes("1"), [w, w, w]);
          a.sendSync(bytes("2"), [w]);
          assert.throws(
            () => b.receiveSync(new Uint8Array(8), { maxFds: 1 }),
            ControlMessageError,
          );
          const buffer = new Uint8Array(8);
          const got = b.receiveSync(buffer, { maxFds: 1 });
          assert.equal(text(buffer, got.bytes), "2");
          assert.equal(got.fds.length, 1);
          assert.equal(inodeOf(got.fds[0]!.fd), inodeOf(w.fd));
          closeAll(...got.fds, a, b, r, w);
        });
      },
    );

    test(`${kind}: maxFds 0 with fds sent throws and delivers none`, {
      skip,
    }, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        a.sendSync(bytes("z"), [w]);
        const before = [...openFds().keys()];
        assert.throws(
          () => b.receiveSync(new Uint8Array(8), { maxFds: 0 }),
          (error: unknown) =>
            error instanceof ControlMessageError &&
            error.code === "ERR_CONTROL_TRUNCATED" && error.closedFds === 0 &&
            error.bytes === 1,
        );
        assert.deepEqual([...openFds().keys()], before);
        // maxFds 0 without fds sent is an ordinary receive.
        a.sendSync(bytes("y"));
        const got = b.receiveSync(new Uint8Array(8), { maxFds: 0 });
        assert.equal(got.bytes, 1);
        closeAll(a, b, r, w);
      });
    });

    // Linux installs (controllen - 16) / 4 fds; CMSG_SPACE(4 * maxFds) is
    // rounded up to 8, so an odd maxFds once left room for one more fd.
    test(
      `${kind}: receiveSync() never returns more fds than maxFds (odd maxFds)`,
      { skip },
      async () => {
        await noLeak(() => {
          const [a, b] = socketPair(kind);
          const [r, w] = pipe();
          try {
            for (const maxFds of [1, 3]) {
              a.sendSync(
                bytes("n"),
                Array.from({ length: maxFds + 1 }, () => w),
              );
              let fds: OwnedFd[] = [];
              try {
                fds = b.receiveSync(new Uint8Array(8), { maxFds }).fds;
              } catch (error) {
                assert.ok(error instanceof ControlMessageError);
              }
              closeAll(...fds);
              assert.ok(
                fds.length <= maxFds,
                `maxFds ${maxFds}: ${fds.length}`,
              );
            }
          } finally {
            closeAll(a, b, r, w);
          }
        });
      },
    );
  }
});

describe(`nonblocking calls, EAGAIN and a dead peer (${RUNTIME})`, () => {
  for (const kind of KINDS) {
    test(`${kind}: a nonblocking receive on an empty socket fails with EAGAIN`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        try {
          b.receiveSync(new Uint8Array(1), { nonblocking: true });
          assert.fail("no EAGAIN");
        } catch (error) {
          assert.ok(error instanceof SystemError);
          assert.equal(error.code, "EAGAIN");
          assert.equal(error.errno, ERRNO.EAGAIN);
          assert.equal(error.syscall, "recvmsg");
        }
        closeAll(a, b);
      });
    });

    test(`${kind}: a nonblocking send on a full buffer fails with EAGAIN, its fds are not delivered, and a retry delivers them once`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        const error = fill(a, kind === "stream" ? 65536 : 1024);
        assert.ok(error instanceof SystemError);
        assert.equal(error.code, "EAGAIN");
        assert.equal(error.syscall, "sendmsg");
        assert.throws(
          () => a.sendSync(bytes("!"), [w], { nonblocking: true }),
          systemError("EAGAIN", "sendmsg"),
        );
        const drained = drain(b);
        assert.ok(drained.bytes > 0);
        assert.equal(drained.fds.length, 0);
        assert.equal(a.sendSync(bytes("!"), [w], { nonblocking: true }), 1);
        const again = drain(b);
        assert.equal(again.bytes, 1);
        assert.equal(again.fds.length, 1);
        assert.equal(inodeOf(again.fds[0]!.fd), inodeOf(w.fd));
        closeAll(...again.fds, a, b, r, w);
      });
    });
  }

  test("stream: a partial nonblocking send carries its fds exactly once", async () => {
    await noLeak(() => {
      const [a, b] = socketPair("stream");
      const [r, w] = pipe();
      const payload = new Uint8Array(4 * 1024 * 1024);
      const sent = a.sendSync(payload, [w], { nonblocking: true });
      assert.ok(sent > 0 && sent < payload.length, `sent ${sent}`);
      const drained = drain(b);
      assert.equal(drained.bytes, sent);
      assert.equal(drained.fds.length, 1);
      closeAll(...drained.fds, a, b, r, w);
    });
  });

  test(
    "stream: a blocking send larger than the socket buffer completes and carries its fd once",
    SLOW,
    async () => {
      await noLeak(async () => {
        const name = abstractName("drain");
        using listener = listen(name);
        const child = runScript(RUNTIME, "tests/peers/sync_drain.ts", [name]);
        let server: UnixSocket;
        try {
          server = await listener.accept({
            signal: AbortSignal.timeout(60_000),
          });
        } catch (error) {
          const result = await child;
          throw new Error(`peer never connected: ${result.stderr}`, {
            cause: error,
          });
        }
        const [r, w] = pipe();
        const payload = new Uint8Array(8 * 1024 * 1024).fill(7);
        try {
          // Blocks until the peer has drained all but the last socket buffer.
          assert.equal(server.sendSync(payload, [w]), payload.length);
        } finally {
          server.close();
          w.close();
        }
        const result = await child;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(JSON.parse(result.stdout), {
          bytes: payload.length,
          fds: 1,
          sum: payload.length * 7,
        });
        // The peer wrote through the fd it received.
        assert.equal(readAll(r), "drained");
        r.close();
      });
    },
  );

  for (const kind of CONNECTED_KINDS) {
    test(`${kind}: sending to a closed peer throws EPIPE instead of raising SIGPIPE`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        b.close();
        try {
          a.sendSync(bytes("anyone?"));
          assert.fail("no error");
        } catch (error) {
          assert.ok(error instanceof SystemError);
          assert.equal(error.code, "EPIPE");
          assert.equal(error.errno, ERRNO.EPIPE);
          assert.equal(error.syscall, "sendmsg");
          assert.equal(error.name, "SystemError");
          assert.equal(
            error.message,
            "Cannot send: sendmsg() failed with EPIPE (broken pipe)",
          );
        }
        a.close();
      });
    });
  }

  test("dgram: sending to a closed peer throws ECONNREFUSED", async () => {
    await noLeak(() => {
      const [a, b] = socketPair("dgram");
      b.close();
      assert.throws(
        () => a.sendSync(bytes("anyone?")),
        systemError("ECONNREFUSED", "sendmsg"),
      );
      a.close();
    });
  });

  test(
    "sendSync() passes MSG_NOSIGNAL: a SIGPIPE handler in the sending process never runs",
    SLOW,
    async () => {
      // Bun and Deno ignore SIGPIPE by default, so the peer installs a counting
      // handler: a plain write() to a dead pipe proves the handler works.
      await noLeak(async () => {
        const result = await runScript(RUNTIME, "tests/peers/sync_sigpipe.ts");
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.signal, null);
        assert.deepEqual(JSON.parse(result.stdout), {
          stream: { code: "EPIPE", signals: 0 },
          seqpacket: { code: "EPIPE", signals: 0 },
          pipeWrite: { code: "EPIPE", signalsAfter: 1 },
        });
      });
    },
  );
});

describe(`end of stream, empty messages and truncation (${RUNTIME})`, () => {
  for (const kind of CONNECTED_KINDS) {
    test(`${kind}: receiveSync() reports eof once the peer closes`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        a.sendSync(bytes("last"));
        a.close();
        const buffer = new Uint8Array(8);
        const first = b.receiveSync(buffer);
        assert.equal(first.bytes, 4);
        assert.equal(first.eof, false);
        for (let i = 0; i < 2; i++) {
          assert.deepEqual(b.receiveSync(buffer), {
            bytes: 0,
            fds: [],
            truncated: false,
            eof: true,
          });
        }
        b.close();
      });
    });

    test(`${kind}: shutdown("write") gives the peer eof while the other direction still works`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        a.shutdown("write");
        const buffer = new Uint8Array(8);
        assert.equal(b.receiveSync(buffer).eof, true);
        assert.throws(
          () => a.sendSync(bytes("no")),
          systemError("EPIPE", "sendmsg"),
        );
        b.sendSync(bytes("still"));
        const got = a.receiveSync(buffer);
        assert.equal(text(buffer, got.bytes), "still");
        assert.equal(got.eof, false);
        assert.throws(
          () => a.shutdown("sideways" as unknown as "read"),
          TypeError,
        );
        closeAll(a, b);
      });
    });
  }

  test("dgram: an empty datagram is 0 bytes and not end of stream", async () => {
    await noLeak(() => {
      const [a, b] = socketPair("dgram");
      assert.equal(a.sendSync(new Uint8Array(0)), 0);
      assert.deepEqual(b.receiveSync(new Uint8Array(8)), {
        bytes: 0,
        fds: [],
        truncated: false,
        eof: false,
        from: "",
      });
      closeAll(a, b);
    });
  });

  for (const kind of MESSAGE_KINDS) {
    test(`${kind}: a message longer than the buffer is cut, flagged truncated, and its tail is lost`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        a.sendSync(new Uint8Array(100).fill(1), [w]);
        a.sendSync(bytes("next"));
        const small = new Uint8Array(10);
        const got = b.receiveSync(small);
        assert.equal(got.bytes, 10);
        assert.equal(got.truncated, true);
        assert.equal(got.fds.length, 1);
        const buffer = new Uint8Array(200);
        const next = b.receiveSync(buffer);
        assert.equal(text(buffer, next.bytes), "next");
        assert.equal(next.truncated, false);
        closeAll(...got.fds, a, b, r, w);
      });
    });
  }

  test("stream: a read shorter than the data is not truncated; the rest comes next", async () => {
    await noLeak(() => {
      const [a, b] = socketPair("stream");
      a.sendSync(bytes("0123456789"));
      const small = new Uint8Array(4);
      const first = b.receiveSync(small);
      assert.equal(first.bytes, 4);
      assert.equal(first.truncated, false);
      const rest = new Uint8Array(16);
      assert.equal(text(rest, b.receiveSync(rest).bytes), "456789");
      closeAll(a, b);
    });
  });
});

describe(`closed sockets (${RUNTIME})`, () => {
  for (const kind of KINDS) {
    test(`${kind}: a closed socket throws ClosedError for every call, and close() is idempotent`, async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        assert.equal(a.closed, false);
        a.close();
        a.close();
        assert.equal(a.closed, true);
        assert.equal(String(a), `UnixSocket(${kind}, closed)`);
        // The number may be reused at once; a stale call would hit it.
        const [r, w] = pipe();
        const calls: (() => unknown)[] = [
          () => a.fd,
          () => a.sendSync(bytes("x")),
          () => a.sendSync(bytes("x"), [w]),
          () => a.receiveSync(new Uint8Array(1)),
          () => a.receiveSync(new Uint8Array(1), { nonblocking: true }),
          () => a.shutdown(),
          () => a.localAddress(),
          () => a.peerAddress(),
        ];
        for (const call of calls) {
          assert.throws(call, (error: unknown) => {
            assert.ok(error instanceof ClosedError);
            assert.equal(error.code, "ERR_CLOSED");
            assert.match(error.message, /closed/);
            return true;
          });
        }
        w.close();
        assert.equal(readAll(r), "");
        closeAll(b, r);
      });
    });

    test(`${kind}: \`using\` closes the socket at the end of the block`, async () => {
      await noLeak(() => {
        const [x, y] = socketPair(kind);
        const numbers = [x.fd, y.fd];
        {
          using a = x;
          using b = y;
          assert.equal(a.closed || b.closed, false);
        }
        assert.equal(x.closed, true);
        assert.equal(y.closed, true);
        for (const number of numbers) assert.ok(!openFds().has(number));
        assert.throws(() => x.sendSync(bytes("x")), ClosedError);
      });
    });
  }
});

describe(`release() (${RUNTIME})`, () => {
  test("release() hands the descriptor to one new owner: a pending receive rejects with ClosedError and the old object reads as closed", async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      const pending = b.receive(new Uint8Array(8));
      const moved = UnixSocket.fromFd(b.release());
      try {
        await assert.rejects(pending, ClosedError);
        assert.equal(b.closed, true);
        assert.throws(() => b.fd, ClosedError);
        assert.throws(() => b.release(), ClosedError);
        b.close(); // a no-op: the descriptor is the new owner's
        a.sendSync(bytes("moved"));
        const got = await moved.receive(new Uint8Array(8));
        assert.equal(got.bytes, 5);
      } finally {
        a.close();
        moved.close();
      }
    });
  });
});
