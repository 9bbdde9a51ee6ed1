/** UnixListener.fromFd: a listening socket inherited or received from a peer. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bind,
  connect,
  listen,
  pipe,
  socketPair,
  SystemError,
  UnixListener,
} from "../mod.ts";
import { libc } from "../_system.ts";
import { abstractName, noLeak } from "./_helpers.ts";

/** `F_GETFL` of `fd`: the open file description's flags, shared with every copy. */
function statusFlags(fd: number): number {
  const lib = libc();
  const flags = lib.fcntl(fd, lib.platform.constants.F_GETFL, 0);
  assert.ok(flags >= 0, `F_GETFL failed: ${-flags}`);
  return flags;
}

test("a listener received over a socket accepts connections in the receiver", async () => {
  await noLeak(async () => {
    const path = abstractName("adopt");
    const [a, b] = socketPair("seqpacket");
    try {
      const original = listen(path, { kind: "seqpacket" });
      a.sendSync(new Uint8Array([1]), [original]);
      original.close(); // sending borrowed it: only the receiver holds it now
      const { fds } = b.receiveSync(new Uint8Array(1));
      using listener = UnixListener.fromFd(fds[0]!);
      assert.equal(fds[0]!.closed, true); // ownership moved
      assert.equal(listener.kind, "seqpacket");
      assert.equal(listener.path, path);
      using client = connect(path, { kind: "seqpacket" });
      using server = await listener.accept({
        signal: AbortSignal.timeout(30_000),
      });
      client.sendSync(new Uint8Array([42]));
      const buffer = new Uint8Array(1);
      assert.equal(server.receiveSync(buffer).bytes, 1);
      assert.equal(buffer[0], 42);
    } finally {
      a.close();
      b.close();
    }
  });
});

test("UnixListener.fromFd() refuses datagram sockets and non-sockets, leaving them open", async () => {
  await noLeak(() => {
    using dgram = bind(abstractName("adopt-dgram"));
    assert.throws(() => UnixListener.fromFd(dgram.fd), TypeError);
    assert.equal(dgram.closed, false);
    const [r, w] = pipe();
    try {
      assert.throws(
        () => UnixListener.fromFd(r),
        (e) => e instanceof SystemError && e.code === "ENOTSOCK",
      );
      assert.equal(r.closed, false);
      assert.throws(() => UnixListener.fromFd(-1), TypeError);
    } finally {
      r.close();
      w.close();
    }
  });
});

test("UnixListener.fromFd() on a blocking listener leaves O_NONBLOCK alone, and accept() waits without blocking the event loop", async () => {
  await noLeak(async () => {
    const path = abstractName("adopt-blocking");
    const [a, b] = socketPair("seqpacket");
    try {
      // The sender made a blocking listener (as systemd, Go's syscall or C
      // would): clear O_NONBLOCK on the description before passing it.
      const original = listen(path);
      const lib = libc();
      const { F_SETFL, O_NONBLOCK } = lib.platform.constants;
      const blocking = statusFlags(original.fd) & ~O_NONBLOCK;
      assert.equal(lib.fcntl(original.fd, F_SETFL, blocking), 0);
      a.sendSync(new Uint8Array([1]), [original]);
      // The sender keeps its copy: it shares the description's flags.
      const { fds } = b.receiveSync(new Uint8Array(1));
      using listener = UnixListener.fromFd(fds[0]!);
      assert.equal(statusFlags(original.fd), blocking, "sender's flags");
      // Nothing is pending: accept must park, and timers keep running.
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const next = listener.accept({ signal: AbortSignal.timeout(30_000) });
      await new Promise((resolve) => setTimeout(resolve, 100));
      clearInterval(timer);
      assert.ok(ticks > 10, `only ${ticks} ticks while accept waited`);
      using client = connect(path);
      using server = await next;
      client.sendSync(new Uint8Array([7]));
      const buffer = new Uint8Array(1);
      assert.equal(server.receiveSync(buffer).bytes, 1);
      assert.equal(buffer[0], 7);
      // acceptSync on the blocking description still works.
      using second = connect(path);
      using accepted = listener.acceptSync();
      assert.equal(accepted.kind, "stream");
      assert.equal(statusFlags(original.fd), blocking, "sender's flags");
      second.close();
      original.close();
    } finally {
      a.close();
      b.close();
    }
  });
});
