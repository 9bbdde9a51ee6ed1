/**
 * UnixListener: accept() and acceptSync(), for-await over connections,
 * cancellation, and close() with accepts pending. Connections are real
 * (abstract names, a CPython peer for the blocking case). No test measures
 * time: the timeouts only turn a hang into a failure.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { inspect } from "node:util";
import { abstractName, available, noLeak, ROOT, RUNTIME } from "./_helpers.ts";
import {
  armed,
  closeAll,
  duplicate,
  leftReactor,
  rejection,
  track,
  turns,
  waitFor,
  within,
} from "./peers/async_support.ts";
import {
  ClosedError,
  connect,
  listen,
  type ListenOptions,
  pipe,
  type SocketKind,
  SystemError,
  UnixListener,
  type UnixSocket,
} from "../mod.ts";

const LONG = { timeout: 120_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string): Uint8Array => encoder.encode(s);

/** The first message on `socket`, as text. */
async function first(socket: UnixSocket): Promise<string> {
  const buffer = new Uint8Array(64);
  const got = await within(socket.receive(buffer), "receive");
  return decoder.decode(buffer.subarray(0, got.bytes));
}

for (const kind of ["stream", "seqpacket"] as const satisfies SocketKind[]) {
  test(
    `accept() waits for a client that connects after the call; the connection carries data and fds both ways (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const path = abstractName("accept");
        const listener = listen(path, { kind });
        const [r, w] = pipe();
        const open: { close(): void }[] = [listener, r, w];
        try {
          const accepting = track(listener.accept());
          await armed(listener.fd);
          await turns(3);
          assert.equal(
            accepting.settled,
            false,
            "accept resolved with no client",
          );
          const client = connect(path, { kind });
          open.push(client);
          const server = await within(accepting.promise, "accept");
          open.push(server);
          assert.equal(server.kind, kind);

          const buffer = new Uint8Array(16);
          const receiving = server.receive(buffer);
          await client.send(text("hello"), [w]);
          const got = await within(receiving, "receive");
          assert.equal(decoder.decode(buffer.subarray(0, got.bytes)), "hello");
          assert.equal(got.fds.length, 1);
          await server.send(text("back"), got.fds);
          closeAll(...got.fds);
          const reply = await within(client.receive(buffer), "receive");
          assert.equal(decoder.decode(buffer.subarray(0, reply.bytes)), "back");
          assert.equal(reply.fds.length, 1);
          reply.fds[0]!.writeSync(text("via two hops"));
          closeAll(...reply.fds);
          const out = new Uint8Array(32);
          assert.equal(
            decoder.decode(out.subarray(0, r.readSync(out))),
            "via two hops",
          );
        } finally {
          closeAll(...open);
        }
      });
    },
  );
}

test(
  `concurrent accept() calls are served in call order (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("order");
      const listener = listen(path);
      const open: { close(): void }[] = [listener];
      try {
        const accepts = [0, 1, 2].map(() => listener.accept());
        await armed(listener.fd);
        for (let i = 0; i < 3; i++) {
          const client = connect(path);
          open.push(client);
          client.sendSync(text(`client ${i}`));
        }
        const servers = await within(Promise.all(accepts), "accepts");
        open.push(...servers);
        const tags = await Promise.all(servers.map(first));
        assert.deepEqual(tags, ["client 0", "client 1", "client 2"]);
      } finally {
        closeAll(...open);
      }
    });
  },
);

test(
  `for await yields each connection in order and ends without error when the listener is closed (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("iterate");
      const listener = listen(path);
      const clients: UnixSocket[] = [];
      try {
        const served: string[] = [];
        const loop = (async (): Promise<void> => {
          for await (const connection of listener) {
            served.push(await first(connection));
            connection.close();
          }
        })();
        for (let i = 0; i < 3; i++) {
          const client = connect(path);
          clients.push(client);
          client.sendSync(text(`c${i}`));
        }
        await waitFor(
          "3 connections served",
          () => served.length === 3 ? true : undefined,
        );
        // The loop is now waiting for a fourth connection.
        await armed(listener.fd);
        listener.close();
        await within(loop, "the for-await loop");
        assert.deepEqual(served, ["c0", "c1", "c2"]);
      } finally {
        closeAll(listener, ...clients);
      }
    });
  },
);

test(
  `leaving a for-await loop early keeps the listener open for the next accept (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("break");
      const listener = listen(path);
      const open: { close(): void }[] = [listener];
      try {
        const a = connect(path);
        open.push(a);
        for await (const connection of listener) {
          connection.close();
          break;
        }
        assert.equal(listener.closed, false);
        const b = connect(path);
        open.push(b);
        b.sendSync(text("second"));
        const server = await within(listener.accept(), "accept");
        open.push(server);
        assert.equal(await first(server), "second");
      } finally {
        closeAll(...open);
      }
    });
  },
);

test(
  `accept() with an already-aborted signal rejects with its reason and leaves the waiting connection queued (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("aborted");
      const listener = listen(path);
      const client = connect(path);
      const open: { close(): void }[] = [listener, client];
      try {
        client.sendSync(text("still here"));
        const reason = new Error("not now");
        const error = await rejection(
          listener.accept({ signal: AbortSignal.abort(reason) }),
          "accept",
        );
        assert.equal(error, reason);
        const server = listener.acceptSync();
        open.push(server);
        assert.equal(await first(server), "still here");
      } finally {
        closeAll(...open);
      }
    });
  },
);

test(
  `aborting an accept() waiting in the reactor rejects with the reason; the next accept gets the next connection (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("abort");
      const listener = listen(path);
      const open: { close(): void }[] = [listener];
      try {
        const controller = new AbortController();
        const pending = listener.accept({ signal: controller.signal });
        await armed(listener.fd);
        controller.abort("changed my mind");
        assert.equal(await rejection(pending, "accept"), "changed my mind");
        const next = listener.accept();
        const client = connect(path);
        open.push(client);
        client.sendSync(text("next"));
        const server = await within(next, "accept");
        open.push(server);
        assert.equal(await first(server), "next");
      } finally {
        closeAll(...open);
      }
    });
  },
);

test(
  `aborting an accept() queued behind another rejects it alone (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("queued");
      const listener = listen(path);
      const open: { close(): void }[] = [listener];
      try {
        const controller = new AbortController();
        const one = listener.accept();
        const two = listener.accept({ signal: controller.signal });
        const three = listener.accept();
        await armed(listener.fd);
        controller.abort("queued");
        assert.equal(await rejection(two, "second accept"), "queued");
        for (const tag of ["x", "y"]) {
          const client = connect(path);
          open.push(client);
          client.sendSync(text(tag));
        }
        const servers = await within(Promise.all([one, three]), "accepts");
        open.push(...servers);
        assert.deepEqual(await Promise.all(servers.map(first)), ["x", "y"]);
      } finally {
        closeAll(...open);
      }
    });
  },
);

test(
  `close() rejects pending and queued accept() calls with ClosedError and removes the fd from the reactor, even while another descriptor keeps the socket open (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const listener = listen(abstractName("close"));
      const extra = duplicate(listener.fd);
      try {
        const pending = listener.accept();
        const queued = listener.accept();
        const fd = listener.fd;
        const epfd = await armed(fd);
        listener.close();
        // Handled at once: waiting for the fd to leave the reactor may take
        // event-loop turns (the poll backend's thread), and Deno reports a
        // rejection still unhandled after one.
        const outcomes = [pending, queued].map((p) => rejection(p, "accept"));
        await leftReactor(fd, epfd, "the closed listener");
        for (const outcome of outcomes) {
          const error = await outcome;
          assert.ok(error instanceof ClosedError, String(error));
        }
        assert.ok(
          (await rejection(listener.accept(), "accept")) instanceof ClosedError,
        );
        assert.throws(() => listener.acceptSync(), ClosedError);
        assert.equal(listener.closed, true);
        listener.close(); // idempotent
      } finally {
        closeAll(listener, extra);
      }
    });
  },
);

test(
  `acceptSync() returns a connection that is already waiting, as a socket whose blocking receiveSync() works (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(() => {
      const path = abstractName("sync");
      using listener = listen(path, { kind: "seqpacket" });
      using client = connect(path, { kind: "seqpacket" });
      using server = listener.acceptSync();
      client.sendSync(text("sync"));
      const buffer = new Uint8Array(8);
      const got = server.receiveSync(buffer);
      assert.equal(decoder.decode(buffer.subarray(0, got.bytes)), "sync");
    });
  },
);

const python = available("python3", ["--version"]);

test(
  `acceptSync() on an empty listener blocks (in poll, not EAGAIN) until a peer connects (${RUNTIME})`,
  { ...LONG, skip: python ? false : "python3 is not installed" },
  async () => {
    await noLeak(async () => {
      const name = abstractName("blocking");
      using listener = listen(name);
      const child = spawn("python3", [
        `${ROOT}/tests/peers/async_dial.py`,
        String(process.pid),
        `@${name.slice(1)}`,
        "stream",
      ], { stdio: ["ignore", "pipe", "inherit"] });
      let output = "";
      child.stdout!.setEncoding("utf8").on("data", (s: string) => output += s);
      const exited = new Promise<number | null>((resolve) =>
        child.on("close", (code) => resolve(code))
      );
      try {
        await waitFor(
          "the peer to start",
          () => output.includes("ready") ? true : undefined,
        );
        // The peer connects only once this thread sleeps in poll().
        using server = listener.acceptSync();
        const buffer = new Uint8Array(16);
        const got = server.receiveSync(buffer);
        assert.equal(decoder.decode(buffer.subarray(0, got.bytes)), "dialed");
        server.sendSync(text("welcome"));
        assert.equal(await within(exited, "the peer", 60_000), 0);
        assert.match(output, /reply welcome/);
        // Where /proc shows wait channels, the peer saw this thread asleep
        // in poll() before it connected.
        assert.match(output, /^(blocked|no wait channels)$/m, output);
      } finally {
        child.kill("SIGKILL");
        await exited;
      }
    });
  },
);

/** A fresh directory for socket files, removed with everything in it. */
async function withDirectory<T>(
  body: (directory: string) => T | Promise<T>,
): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), "fdpass-listener-"));
  try {
    return await body(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** The error `action` throws (it must throw). */
function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}

for (const kind of ["stream", "seqpacket"] as const satisfies SocketKind[]) {
  test(
    `close() removes the socket file listen() created, so the path can be listened on again (${kind}, ${RUNTIME})`,
    async () => {
      await noLeak(() =>
        withDirectory((directory) => {
          const path = join(directory, "a.sock");
          const listener = listen(path, { kind });
          assert.equal(lstatSync(path).isSocket(), true);
          using client = connect(path, { kind });
          using server = listener.acceptSync();
          listener.close();
          assert.equal(existsSync(path), false);
          // The accepted connection outlives the listener and its file.
          client.sendSync(text("still here"));
          const buffer = new Uint8Array(16);
          assert.equal(server.receiveSync(buffer).bytes, 10);
          listen(path, { kind }).close();
          assert.equal(existsSync(path), false);
        })
      );
    },
  );
}

test(
  `unlinkOnClose: false keeps the file; listen() then fails with EADDRINUSE, and replaceStale: true takes the stale socket over (${RUNTIME})`,
  async () => {
    await noLeak(() =>
      withDirectory((directory) => {
        const path = join(directory, "kept.sock");
        listen(path, { unlinkOnClose: false }).close();
        assert.equal(lstatSync(path).isSocket(), true);
        const error = thrown(() => listen(path));
        assert.ok(error instanceof SystemError);
        assert.equal(error.code, "EADDRINUSE");
        assert.equal(error.syscall, "bind");
        const listener = listen(path, { replaceStale: true });
        using client = connect(path);
        using server = listener.acceptSync();
        client.sendSync(text("new"));
        assert.equal(server.receiveSync(new Uint8Array(4)).bytes, 3);
        listener.close();
        assert.equal(existsSync(path), false);
      })
    );
  },
);

test(
  `replaceStale: true never takes over a live listener's path or a file that is not a socket (${RUNTIME})`,
  async () => {
    await noLeak(() =>
      withDirectory((directory) => {
        const live = join(directory, "live.sock");
        using listener = listen(live);
        const error = thrown(() => listen(live, { replaceStale: true }));
        assert.ok(error instanceof SystemError);
        assert.equal(error.code, "EADDRINUSE");
        // Still the live listener's file, and it still accepts (the probe's
        // connection first, closed at once by the prober: end of stream).
        using probe = listener.acceptSync();
        assert.equal(probe.receiveSync(new Uint8Array(1)).eof, true);
        using client = connect(live);
        using server = listener.acceptSync();
        client.sendSync(text("ok"));
        assert.equal(server.receiveSync(new Uint8Array(4)).bytes, 2);

        const regular = join(directory, "regular");
        writeFileSync(regular, "not a socket");
        const refused = thrown(() => listen(regular, { replaceStale: true }));
        assert.ok(refused instanceof SystemError);
        assert.equal(refused.code, "EADDRINUSE");
        assert.equal(readFileSync(regular, "utf8"), "not a socket");
      })
    );
  },
);

test(
  `close() leaves a file that replaced the listener's own socket file (${RUNTIME})`,
  async () => {
    await noLeak(() =>
      withDirectory((directory) => {
        const path = join(directory, "replaced.sock");
        const first = listen(path);
        renameSync(path, join(directory, "moved.sock"));
        using second = listen(path);
        first.close();
        assert.equal(lstatSync(path).isSocket(), true);
        using client = connect(path);
        using server = second.acceptSync();
        client.sendSync(text("second"));
        assert.equal(server.receiveSync(new Uint8Array(8)).bytes, 6);
        // The moved file was the first listener's, but no longer at its path.
        assert.equal(existsSync(join(directory, "moved.sock")), true);
      })
    );
  },
);

test(
  `release() moves a listener to a new owner: pending accepts reject with ClosedError, the descriptor keeps listening, and the file is left to the new owner (${RUNTIME})`,
  async () => {
    await noLeak(() =>
      withDirectory(async (directory) => {
        const path = join(directory, "moved.sock");
        const original = listen(path);
        const pending = original.accept();
        const adopted = UnixListener.fromFd(original.release());
        assert.ok((await rejection(pending, "accept")) instanceof ClosedError);
        assert.equal(original.closed, true);
        assert.throws(() => original.fd, ClosedError);
        assert.throws(() => original.release(), ClosedError);
        original.close(); // a no-op: the descriptor is no longer its own
        const accepting = adopted.accept();
        using client = connect(path);
        using server = await within(accepting, "accept");
        client.sendSync(text("moved"));
        assert.equal(await first(server), "moved");
        // An adopted listener did not create the file: it never removes it.
        adopted.close();
        assert.equal(lstatSync(path).isSocket(), true);
      })
    );
  },
);

test(
  `toString() and inspection show a listener's kind, path and descriptor (${RUNTIME})`,
  () => {
    const path = abstractName("string");
    const listener = listen(path, { kind: "seqpacket" });
    const shown = `UnixListener(seqpacket, ${
      JSON.stringify(path)
    }, fd ${listener.fd})`;
    assert.equal(String(listener), shown);
    assert.equal(inspect(listener), shown);
    listener.close();
    assert.equal(
      String(listener),
      `UnixListener(seqpacket, ${JSON.stringify(path)}, closed)`,
    );
  },
);

test(
  `listen() refuses unlinkOnClose and replaceStale that are not booleans, before binding (${RUNTIME})`,
  async () => {
    await noLeak(() => {
      const path = abstractName("options");
      for (const options of [{ unlinkOnClose: 1 }, { replaceStale: "yes" }]) {
        assert.throws(
          () => listen(path, options as unknown as ListenOptions),
          TypeError,
        );
      }
      // Nothing was bound: the name is free.
      listen(path).close();
    });
  },
);
