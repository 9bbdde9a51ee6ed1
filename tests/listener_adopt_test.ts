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
import { abstractName, noLeak } from "./_helpers.ts";

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
