/**
 * Hostile and careless callers (issue 11): every promise of the README's
 * "Guarantees" holds against lying typed arrays, huge and detached buffers,
 * getters that close the socket, look-alike signals and foreign sockets.
 * Each case runs in both runtimes inside `noLeak()`.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bind,
  Channel,
  ClosedError,
  connect,
  ControlMessageError,
  listen,
  OwnedFd,
  pipe,
  type SocketKind,
  socketPair,
  SystemError,
  UnixListener,
  UnixSocket,
} from "../mod.ts";
import { abstractName, inodeOf, noLeak, openFds } from "./_helpers.ts";
import { runScript, RUNTIME, skipUnderQemu } from "./_helpers.ts";
import { libc } from "../_system.ts";

/** A real Uint8Array whose own `byteLength` claims far more than it holds. */
function lyingLength(bytes: number[], claimed = 60_000): Uint8Array {
  const u = new Uint8Array(bytes);
  Object.defineProperty(u, "byteLength", { value: claimed });
  Object.defineProperty(u, "length", { value: claimed });
  return u;
}

/** A subclass whose `byteOffset` and `buffer` point elsewhere. */
class Misleading extends Uint8Array {
  override get byteOffset(): number {
    return 1 << 30;
  }
  override get buffer(): ArrayBuffer {
    return new ArrayBuffer(1 << 20);
  }
  override get byteLength(): number {
    return 1 << 20;
  }
}

function detached(size: number): Uint8Array {
  const u = new Uint8Array(size);
  structuredClone(u.buffer, { transfer: [u.buffer] });
  return u;
}

const GIB4 = 2 ** 32;

/** qemu-user cannot map the guest's 4 GiB buffers (Bun aborts in mprotect). */
const HUGE = {
  skip: skipUnderQemu(
    "4 GiB buffers",
    "the emulator cannot map 4 GiB buffers for the guest",
  ),
};

/**
 * Whether the kernel takes `SO_PASSPIDFD` (Linux 6.5+; qemu-user does not
 * pass the option through).
 */
function passPidfdSupported(): boolean {
  const [a, b] = socketPair("seqpacket");
  try {
    const lib = libc();
    const c = lib.platform.constants;
    const on = new Uint8Array([1, 0, 0, 0]);
    return c.SO_PASSPIDFD !== 0 &&
      lib.setsockopt(a.fd, c.SOL_SOCKET, c.SO_PASSPIDFD, on, 4) === 0;
  } finally {
    a.close();
    b.close();
  }
}

/** Two connected sockets, both closed at the end of the `using` block. */
function pair(
  kind: SocketKind = "stream",
): { a: UnixSocket; b: UnixSocket } & Disposable {
  const [a, b] = socketPair(kind);
  return {
    a,
    b,
    [Symbol.dispose](): void {
      a.close();
      b.close();
    },
  };
}

test("sendSync() sends the real bytes of a Uint8Array whose byteLength lies", async () => {
  await noLeak(() => {
    using p = pair("seqpacket");
    const { a, b } = p;
    assert.equal(a.sendSync(lyingLength([1, 2, 3, 4])), 4);
    const into = new Uint8Array(100);
    const r = b.receiveSync(into);
    assert.equal(r.bytes, 4);
    assert.deepEqual([...into.subarray(0, 4)], [1, 2, 3, 4]);
  });
});

test("receiveSync() writes only into the real bytes of a Uint8Array whose byteLength lies", async () => {
  await noLeak(() => {
    using p = pair("seqpacket");
    const { a, b } = p;
    a.sendSync(new Uint8Array(100).fill(7));
    const backing = new Uint8Array(16);
    const target = backing.subarray(4, 8);
    Object.defineProperty(target, "byteLength", { value: 60_000 });
    const r = b.receiveSync(target);
    assert.equal(r.bytes, 4);
    assert.equal(r.truncated, true);
    assert.deepEqual([...backing], [
      0,
      0,
      0,
      0,
      7,
      7,
      7,
      7,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
  });
});

test("send() and receive() use the engine's length, offset and buffer, not the view's getters", async () => {
  await noLeak(async () => {
    using p = pair("seqpacket");
    const { a, b } = p;
    const data = new Misleading(4);
    data.set([9, 8, 7, 6]);
    assert.equal(await a.send(data), 4);
    assert.equal(a.sendSync([data, lyingLength([5])]), 5);
    const into = new Misleading(8);
    const r = await b.receive(into);
    assert.equal(r.bytes, 4);
    assert.deepEqual([...new Uint8Array(into)].slice(0, 4), [9, 8, 7, 6]);
    const second = new Uint8Array(8);
    assert.equal(b.receiveSync([lyingLength([0, 0]), second]).bytes, 5);
    assert.deepEqual([...second.subarray(0, 3)], [7, 6, 5]);
  });
});

test("OwnedFd.readSync()/writeSync() use the real length of a lying Uint8Array", async () => {
  await noLeak(() => {
    const [r, w] = pipe();
    try {
      assert.equal(w.writeSync(lyingLength([1, 2, 3])), 3);
      w.writeSync(new Uint8Array(50).fill(1));
      const backing = new Uint8Array(8);
      const into = backing.subarray(0, 2);
      Object.defineProperty(into, "byteLength", { value: 60_000 });
      assert.equal(r.readSync(into), 2);
      assert.deepEqual([...backing], [1, 2, 0, 0, 0, 0, 0, 0]);
      assert.throws(() => r.readSync(detached(4)), TypeError);
      assert.throws(() => w.writeSync(detached(4)), TypeError);
    } finally {
      r.close();
      w.close();
    }
  });
});

test("Channel frames carry the real length of a lying Uint8Array", async () => {
  await noLeak(async () => {
    const [a, b] = socketPair();
    using left = new Channel(a);
    using right = new Channel(b);
    left.sendSync(lyingLength([1, 2, 3]));
    await left.send(lyingLength([4]));
    assert.deepEqual([...right.receiveSync().data], [1, 2, 3]);
    assert.deepEqual([...(await right.receive()).data], [4]);
  });
});

test("an object that only inherits from Uint8Array.prototype is a TypeError", async () => {
  await noLeak(() => {
    using p = pair();
    const { a, b } = p;
    const fake = Object.create(Uint8Array.prototype) as Uint8Array;
    assert.throws(() => a.sendSync(fake), TypeError);
    assert.throws(() => a.sendSync([fake]), TypeError);
    assert.throws(
      () => b.receiveSync(fake, { nonblocking: true }),
      TypeError,
    );
  });
});

test(
  "a 4 GiB receive buffer reads the data, not a false end of stream",
  HUGE,
  async () => {
    await noLeak(async () => {
      using p = pair();
      const { a, b } = p;
      a.sendSync(new Uint8Array([1, 2, 3, 4, 5]));
      let big: Uint8Array | undefined = new Uint8Array(GIB4);
      const r = b.receiveSync(big);
      assert.equal(r.bytes, 5);
      assert.equal(r.eof, false);
      a.sendSync(new Uint8Array([6]));
      const r2 = await b.receive(big);
      assert.equal(r2.bytes, 1);
      assert.equal(big[0], 6);
      big = undefined;
    });
  },
);

test(
  "a blocking stream sendSync() and an async send() of 4 GiB send every byte, in calls the kernel takes whole",
  { ...HUGE, timeout: 120_000 },
  async () => {
    await noLeak(async () => {
      let big: Uint8Array | undefined = new Uint8Array(GIB4);
      for (const mode of ["sync", "async"] as const) {
        const name = abstractName("huge");
        using listener = listen(name);
        const child = runScript(RUNTIME, "tests/peers/hostile_drain.ts", [
          name,
        ]);
        {
          using server = await listener.accept({
            signal: AbortSignal.timeout(30_000),
          });
          const sent: number = mode === "sync"
            ? server.sendSync(big)
            : await server.send(big);
          assert.equal(sent, GIB4);
        }
        const result = await child;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(JSON.parse(result.stdout), { bytes: GIB4 });
      }
      big = undefined;
    });
  },
);

test(
  "a seqpacket message of 4 GiB is a RangeError, never an empty message",
  HUGE,
  async () => {
    await noLeak(async () => {
      using p = pair("seqpacket");
      const { a, b } = p;
      let big: Uint8Array | undefined = new Uint8Array(GIB4);
      assert.throws(() => a.sendSync(big!), RangeError);
      await assert.rejects(a.send(big), RangeError);
      big = undefined;
      assert.throws(
        () => b.receiveSync(new Uint8Array(1), { nonblocking: true }),
        (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
      );
    });
  },
);

test("a detached buffer is a TypeError and the message stays queued", async () => {
  await noLeak(async () => {
    using p = pair("seqpacket");
    const { a, b } = p;
    a.sendSync(new Uint8Array([1, 2, 3]));
    assert.throws(() => b.receiveSync(detached(8)), TypeError);
    await assert.rejects(b.receive(detached(8)), TypeError);
    assert.throws(() => a.sendSync(detached(8)), TypeError);
    const r = b.receiveSync(new Uint8Array(8));
    assert.equal(r.bytes, 3);
    assert.equal(r.truncated, false);
  });
});

test("a view used before and detached since is a TypeError: a remembered view still has its length checked", async () => {
  await noLeak(async () => {
    using p = pair("seqpacket");
    const { a, b } = p;
    const data = new Uint8Array([1, 2, 3]);
    const into = new Uint8Array(8);
    a.sendSync(data);
    assert.equal(b.receiveSync(into).bytes, 3);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    structuredClone(into.buffer, { transfer: [into.buffer] });
    assert.throws(() => a.sendSync(data), TypeError);
    await assert.rejects(a.send(data), TypeError);
    a.sendSync(new Uint8Array([4]));
    assert.throws(() => b.receiveSync(into), TypeError);
    await assert.rejects(b.receive(into), TypeError);
    assert.equal(b.receiveSync(new Uint8Array(8)).bytes, 1);
  });
});

test('maxFds: "3" is a TypeError, maxFds: 3.5 a RangeError, nonblocking: "yes" a TypeError', async () => {
  await noLeak(async () => {
    using p = pair();
    const { a, b } = p;
    const buffer = new Uint8Array(1);
    const bad = { maxFds: "3" } as unknown as { maxFds: number };
    assert.throws(() => b.receiveSync(buffer, bad), TypeError);
    await assert.rejects(b.receive(buffer, bad), TypeError);
    assert.throws(() => b.receiveSync(buffer, { maxFds: 3.5 }), RangeError);
    const flag = { nonblocking: "yes" } as unknown as {
      nonblocking: boolean;
    };
    assert.throws(() => b.receiveSync(buffer, flag), TypeError);
    assert.throws(() => a.sendSync(buffer, [], flag), TypeError);
  });
});

/** Closes `socket` and opens a new pair; returns it if it took `fd`'s number. */
function reuse(socket: UnixSocket, fd: number): [UnixSocket, UnixSocket] {
  socket.close();
  const fresh = socketPair("seqpacket");
  assert.ok(
    fresh.some((x) => x.fd === fd),
    `the new socket did not reuse fd ${fd}`,
  );
  return fresh;
}

/** Whether `socket` has nothing queued. */
function empty(socket: UnixSocket): boolean {
  try {
    socket.receiveSync(new Uint8Array(8), { nonblocking: true });
    return false;
  } catch (error) {
    if (error instanceof SystemError && error.code === "EAGAIN") return true;
    throw error;
  }
}

function closeAll(sockets: readonly (UnixSocket | OwnedFd)[]): void {
  for (const x of sockets) x.close();
}

test("an fd getter that closes the socket and reuses its number: sendSync() and send() throw ClosedError, nothing reaches the new socket", async () => {
  await noLeak(async () => {
    for (const mode of ["sync", "async"] as const) {
      const [a, b] = socketPair("seqpacket");
      const [r, w] = pipe();
      const number = a.fd;
      let fresh: [UnixSocket, UnixSocket] | undefined;
      const hostile = {
        get fd(): number {
          fresh = reuse(a, number);
          return r.fd;
        },
      };
      try {
        const data = new Uint8Array([1]);
        if (mode === "sync") {
          assert.throws(() => a.sendSync(data, [hostile]), ClosedError);
        } else {
          await assert.rejects(a.send(data, [hostile]), ClosedError);
        }
        assert.ok(fresh !== undefined);
        assert.ok(fresh.every(empty), "the message reached the new socket");
      } finally {
        closeAll([a, b, r, w, ...(fresh ?? [])]);
      }
    }
  });
});

test("an options getter that closes the socket and reuses its number: sendSync() and receiveSync() throw ClosedError", async () => {
  await noLeak(() => {
    const opened: UnixSocket[] = [];
    try {
      const [a, b] = socketPair("seqpacket");
      opened.push(a, b);
      const number = a.fd;
      const options = {
        get nonblocking(): boolean {
          opened.push(...reuse(a, number));
          return false;
        },
      };
      assert.throws(
        () => a.sendSync(new Uint8Array([1]), [], options),
        ClosedError,
      );
      assert.ok(opened.slice(2).every(empty));
      const receiver = b.fd;
      const [c, d] = reuse(b, receiver);
      opened.push(c, d);
      const peer = c.fd === receiver ? d : c;
      peer.sendSync(new Uint8Array([2]));
      const stale = socketPair("seqpacket");
      opened.push(...stale);
      const target = stale[0];
      const n = target.fd;
      const receiveOptions = {
        get maxFds(): number {
          opened.push(...reuse(target, n));
          return 1;
        },
      };
      assert.throws(
        () => target.receiveSync(new Uint8Array(8), receiveOptions),
        ClosedError,
      );
    } finally {
      closeAll(opened);
    }
  });
});

/**
 * A real AbortSignal whose own `aborted` getter runs `onRead`, and whose own
 * `reason`, `addEventListener` and `removeEventListener` record being called.
 */
function trappedSignal(
  onRead: () => void,
): { signal: AbortSignal; calls: string[]; abort: () => void } {
  const controller = new AbortController();
  const signal = controller.signal;
  const calls: string[] = [];
  Object.defineProperty(signal, "aborted", {
    get(): boolean {
      calls.push("aborted");
      onRead();
      return false;
    },
  });
  Object.defineProperty(signal, "reason", {
    get(): unknown {
      calls.push("reason");
      return "from the getter";
    },
  });
  for (const name of ["addEventListener", "removeEventListener"]) {
    Object.defineProperty(signal, name, {
      value: (): void => void calls.push(name),
    });
  }
  return { signal, calls, abort: () => controller.abort(new Error("real")) };
}

test("a real AbortSignal's own aborted getter never runs, so it cannot close and reuse the number: send(), receive() and OwnedFd.write() use their own descriptor", async () => {
  await noLeak(async () => {
    const opened: (UnixSocket | OwnedFd)[] = [];
    try {
      // Each getter, if fdpass called it, would close the descriptor and
      // hand its number to a new socket or pipe.
      const [a, b] = socketPair("seqpacket");
      opened.push(a, b);
      const sender = trappedSignal(() => opened.push(...reuse(a, a.fd)));
      const sent = await a.send(new Uint8Array([1]), [], {
        signal: sender.signal,
      });
      assert.equal(sent, 1);
      assert.deepEqual(sender.calls, []);
      assert.equal(b.receiveSync(new Uint8Array(8)).bytes, 1);

      const [c, d] = socketPair("seqpacket");
      opened.push(c, d);
      d.sendSync(new Uint8Array([7, 7]));
      const receiver = trappedSignal(() => opened.push(...reuse(c, c.fd)));
      const got = await c.receive(new Uint8Array(8), {
        signal: receiver.signal,
      });
      assert.equal(got.bytes, 2);
      assert.deepEqual(receiver.calls, []);

      const [r, w] = pipe();
      opened.push(r, w);
      const writer = trappedSignal(() => {
        w.close();
        opened.push(...pipe());
      });
      assert.equal(
        await w.write(new Uint8Array([9]), { signal: writer.signal }),
        1,
      );
      assert.deepEqual(writer.calls, []);
      assert.equal(r.readSync(new Uint8Array(4)), 1);
    } finally {
      closeAll(opened);
    }
  });
});

test("a pending receive with such a signal rejects with the real reason when aborted, through the engine's own listener", async () => {
  await noLeak(async () => {
    using p = pair();
    const { signal, calls, abort } = trappedSignal(() => {});
    const pending = p.b.receive(new Uint8Array(1), { signal });
    const framed = new Channel(p.a);
    const frame = framed.receive({ signal });
    // Let both park (spinning, then the reactor) before the abort.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(calls, []);
    abort();
    await Promise.all([
      assert.rejects(pending, { message: "real" }),
      assert.rejects(frame, { message: "real" }),
    ]);
    framed.close();
    // (Deno's own abort() reads `aborted`; fdpass's listeners are the
    // engine's, so nothing else of the signal's runs.)
    assert.deepEqual(calls.filter((name) => name !== "aborted"), []);
  });
});

test("a send that waits keeps its own descriptors: later sends, and sends from inside an fd getter, carry theirs", async () => {
  await noLeak(async () => {
    const [a, b] = socketPair("seqpacket");
    const [r1, w1] = pipe();
    const [r2, w2] = pipe();
    const [r3, w3] = pipe();
    const received: OwnedFd[] = [];
    try {
      // Fill a's send buffer so the next async send has to wait.
      const filler = new Uint8Array(1024);
      let queued = 0;
      for (;;) {
        try {
          a.sendSync(filler, [], { nonblocking: true });
          queued++;
        } catch (error) {
          if (error instanceof SystemError && error.code === "EAGAIN") break;
          throw error;
        }
      }
      const waiting = a.send(new Uint8Array([1]), [r1]);
      // Fails at once, after reading r2's number (it must not reach `waiting`).
      assert.throws(
        () => a.sendSync(new Uint8Array([2]), [r2], { nonblocking: true }),
        (error: unknown) =>
          error instanceof SystemError && error.code === "EAGAIN",
      );
      const into = new Uint8Array(1024);
      for (let i = 0; i < queued; i++) b.receiveSync(into);
      assert.equal(await waiting, 1);
      const first = b.receiveSync(into, { maxFds: 2 });
      received.push(...first.fds);
      assert.equal(first.fds.length, 1);
      assert.equal(inodeOf(first.fds[0]!.fd), inodeOf(r1.fd));

      // A getter that sends on the same socket while the outer send reads
      // its descriptors: each message carries exactly its own.
      let inner: Promise<number> | undefined;
      const hostile = {
        get fd(): number {
          inner = a.send(new Uint8Array([3]), [r3]);
          return r2.fd;
        },
      };
      assert.equal(await a.send(new Uint8Array([4]), [w1, hostile]), 1);
      assert.equal(await inner, 1);
      const first2 = b.receiveSync(into, { maxFds: 2 });
      const outer = b.receiveSync(into, { maxFds: 2 });
      received.push(...first2.fds, ...outer.fds);
      assert.deepEqual([...into.subarray(0, 1)], [4]);
      assert.deepEqual(first2.fds.map((x) => inodeOf(x.fd)), [inodeOf(r3.fd)]);
      assert.deepEqual(
        outer.fds.map((x) => inodeOf(x.fd)),
        [inodeOf(w1.fd), inodeOf(r2.fd)],
      );
    } finally {
      closeAll([a, b, r1, w1, r2, w2, r3, w3, ...received]);
    }
  });
});

test("a getter defined over a socket's kind never runs inside fdpass: a send keeps its own descriptors and the listener's accept its kind", async () => {
  await noLeak(async () => {
    const [a, b] = socketPair("seqpacket");
    const [r1, w1] = pipe();
    const [r2, w2] = pipe();
    const received: OwnedFd[] = [];
    let reads = 0;
    // Were fdpass to read it between its checks and its call, this getter
    // would fill the socket's scratch descriptors with r2 and close b.
    Object.defineProperty(a, "kind", {
      get(): SocketKind {
        if (reads++ === 0) {
          try {
            a.sendSync(new Uint8Array([2]), [r2], { to: "\0nowhere" });
          } catch {
            // Fails after reading r2's number, by design.
          }
        }
        return "stream";
      },
    });
    const name = abstractName("hostile-kind");
    const listener = listen(name, { kind: "seqpacket" });
    Object.defineProperty(listener, "kind", {
      get(): SocketKind {
        reads++;
        return "stream";
      },
    });
    const client = connect(name, { kind: "seqpacket" });
    let accepted: UnixSocket | undefined;
    try {
      assert.equal(await a.send(new Uint8Array([1]), [r1]), 1);
      assert.equal(a.sendSync(new Uint8Array([3]), [w1]), 1);
      const into = new Uint8Array(8);
      for (const expected of [r1, w1]) {
        const got = b.receiveSync(into, { maxFds: 2 });
        received.push(...got.fds);
        assert.deepEqual(
          got.fds.map((x) => inodeOf(x.fd)),
          [inodeOf(expected.fd)],
        );
      }
      accepted = await listener.accept();
      assert.equal(accepted.kind, "seqpacket");
      assert.equal(reads, 0);
    } finally {
      closeAll([a, b, r1, w1, r2, w2, client, ...received]);
      accepted?.close();
      listener.close();
    }
  });
});

/** A resizable buffer's length-tracking view of `size` bytes, all 0xaa. */
function resizable(size: number): { view: Uint8Array; buffer: ArrayBuffer } {
  const buffer = new (ArrayBuffer as unknown as new (
    length: number,
    options: { maxByteLength: number },
  ) => ArrayBuffer)(size, { maxByteLength: 1 << 20 });
  const view = new Uint8Array(buffer);
  view.fill(0xaa);
  return { view, buffer };
}

test("sendSync() reads its data's length again after the caller's getters ran: a buffer an fd getter shrank or detached is a TypeError and nothing is sent", async () => {
  await noLeak(() => {
    using p = pair("dgram");
    const { a, b } = p;
    const [r, w] = pipe();
    const into = new Uint8Array(70_000);
    const nothingQueued = (): void =>
      assert.throws(
        () => b.receiveSync(into, { nonblocking: true }),
        (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
      );
    try {
      // Descriptors are read last; before, the kernel read 65,536 bytes of
      // a buffer that held 16 by then (Bun), or failed with EFAULT.
      for (const many of [false, true]) {
        const { view, buffer } = resizable(65_536);
        const shrinking = {
          get fd(): number {
            (buffer as unknown as { resize(n: number): void }).resize(16);
            return r.fd;
          },
        };
        assert.throws(
          () => a.sendSync(many ? [view] : view, [shrinking]),
          (e: unknown) => e instanceof TypeError && /shrank/.test(e.message),
        );
        nothingQueued();
        const gone = new Uint8Array(1000);
        const detaching = {
          get fd(): number {
            structuredClone(gone.buffer, { transfer: [gone.buffer] });
            return r.fd;
          },
        };
        assert.throws(
          () => a.sendSync(many ? [gone] : gone, [detaching]),
          (e: unknown) => e instanceof TypeError && /detached/.test(e.message),
        );
        nothingQueued();
      }
      // Options are read first: a buffer their getter shrank is sent as it
      // is by then.
      const { view, buffer } = resizable(65_536);
      const options = {
        get nonblocking(): boolean {
          (buffer as unknown as { resize(n: number): void }).resize(16);
          return false;
        },
      };
      assert.equal(a.sendSync(view, [], options), 16);
      assert.equal(b.receiveSync(into).bytes, 16);
    } finally {
      closeAll([r, w]);
    }
  });
});

test("options are read before descriptors: an options getter that closes a descriptor and reuses its number makes the send a ClosedError, never a send of the new file", async () => {
  await noLeak(async () => {
    using p = pair("seqpacket");
    const { a, b } = p;
    const channel = new Channel(a);
    const spare: OwnedFd[] = [];
    try {
      type Send = (fds: OwnedFd[], options: object) => unknown;
      const sends: [string, Send][] = [
        ["sendSync", (fds, o) => a.sendSync(new Uint8Array([1]), fds, o)],
        ["send", (fds, o) => a.send(new Uint8Array([1]), fds, o)],
        [
          "Channel.send",
          (fds, o) => channel.send(new Uint8Array([1]), fds, o),
        ],
      ];
      for (const [what, send] of sends) {
        const [r, w] = pipe();
        spare.push(w);
        const number = r.fd;
        const options = {
          get [what === "sendSync" ? "nonblocking" : "signal"](): undefined {
            r.close();
            // The lowest free number: r's.
            const [r2, w2] = pipe();
            spare.push(r2, w2);
            assert.equal(r2.fd, number);
            return undefined;
          },
        };
        await assert.rejects(
          async () => await send([r], options),
          (e: unknown) => e instanceof ClosedError,
          what,
        );
        assert.throws(
          () => b.receiveSync(new Uint8Array(8), { nonblocking: true }),
          (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
          what,
        );
      }
    } finally {
      closeAll(spare);
      channel.close();
    }
  });
});

test("a Channel reads its own copies: getters defined over maxFrameSize, socket and kind never run inside send, sendSync or receive, and a stream frame's header matches its bytes", async () => {
  await noLeak(async () => {
    for (const kind of ["stream", "seqpacket"] as const) {
      const [a, b] = socketPair(kind);
      const left = new Channel(a, { maxFrameSize: 64 });
      const right = new Channel(b, { maxFrameSize: 64 });
      let reads = 0;
      const { view, buffer } = resizable(32);
      for (const channel of [left, right]) {
        Object.defineProperty(channel, "maxFrameSize", {
          get(): number {
            reads++;
            (buffer as unknown as { resize(n: number): void }).resize(4);
            return 1 << 30;
          },
        });
        Object.defineProperty(channel, "socket", {
          get(): UnixSocket {
            reads++;
            throw new Error("the public socket property was read");
          },
        });
      }
      Object.defineProperty(a, "kind", {
        get(): SocketKind {
          reads++;
          return "dgram";
        },
      });
      try {
        left.sendSync(view);
        await left.send(new Uint8Array([7, 8]));
        const first = right.receiveSync();
        assert.equal(first.data.length, 32, kind);
        assert.deepEqual([...(await right.receive()).data], [7, 8], kind);
        assert.equal(reads, 0, kind);
      } finally {
        left.close();
        right.close();
      }
    }
  });
});

test("a real AbortSignal given another prototype, before its first use or after, is a TypeError before anything happens, in sends, receives, reads, writes and accepts", async () => {
  await noLeak(async () => {
    const [a, b] = socketPair("stream");
    const [r, w] = pipe();
    const channel = new Channel(a);
    let traps = 0;
    const proxied = new AbortController().signal;
    // Deno's brand check walks the chain: this trap would run inside fdpass
    // each time it read the signal.
    Object.setPrototypeOf(
      proxied,
      new Proxy({}, {
        getPrototypeOf(): object {
          traps++;
          return AbortSignal.prototype;
        },
      }),
    );
    const between = new AbortController().signal;
    Object.setPrototypeOf(between, Object.create(AbortSignal.prototype));
    // Accepted once, then given a proxy: known by identity, still refused.
    const swapped = new AbortController().signal;
    await channel.send(new Uint8Array([9]), [], { signal: swapped });
    assert.equal(b.receiveSync(new Uint8Array(16)).bytes, 9); // header + 1
    Object.setPrototypeOf(swapped, Object.getPrototypeOf(proxied));
    const listener = listen(abstractName("hostile-signal-prototype"));
    try {
      for (const signal of [proxied, between, swapped]) {
        const calls: [string, () => Promise<unknown>][] = [
          [
            "Channel.send",
            () => channel.send(new Uint8Array([1]), [r], { signal }),
          ],
          ["send", () => a.send(new Uint8Array([1]), [r], { signal })],
          ["receive", () => a.receive(new Uint8Array(1), { signal })],
          ["OwnedFd.write", () => w.write(new Uint8Array([1]), { signal })],
          ["OwnedFd.read", () => r.read(new Uint8Array(1), { signal })],
          ["UnixListener.accept", () => listener.accept({ signal })],
        ];
        for (const [what, call] of calls) {
          await assert.rejects(
            call,
            (e: unknown) =>
              e instanceof TypeError &&
              /own prototype|prototype was changed/.test(e.message),
            what,
          );
        }
      }
      assert.throws(
        () => b.receiveSync(new Uint8Array(8), { nonblocking: true }),
        (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
      );
      // A signal checked once (by the Channel) is known by identity when
      // its socket sees it: the frame goes out whole.
      const signal = new AbortController().signal;
      await channel.send(new Uint8Array([5, 6, 7]), [], { signal });
      const right = new Channel(b);
      assert.deepEqual([...(await right.receive({ signal })).data], [5, 6, 7]);
      right.close();
    } finally {
      closeAll([r, w]);
      channel.close();
      b.close();
      listener.close();
    }
    assert.ok(traps <= 40, `${traps}`); // only while checking, a few each
  });
});

test("a signal whose prototype is changed while its calls wait never breaks them: abort or close() still settles a waiting and a queued receive, with fdpass's TypeError or ClosedError", async () => {
  await noLeak(async () => {
    for (const end of ["abort", "close"] as const) {
      const [a, b] = socketPair("seqpacket");
      try {
        const controller = new AbortController();
        const { signal } = controller;
        // Handled from the start: an abort rejects both synchronously.
        const settled = (pending: Promise<unknown>) =>
          pending.then(() => "resolved", (error: unknown) => error);
        const waiting = settled(b.receive(new Uint8Array(8), { signal }));
        const queued = settled(b.receive(new Uint8Array(8), { signal }));
        await new Promise((resolve) => setTimeout(resolve, 20));
        // Deno's brand checks now refuse the signal (its own abort() too):
        // before, removing fdpass's listener threw out of close().
        Object.setPrototypeOf(signal, {});
        const reason = new Error("stop");
        let aborted = false;
        if (end === "abort") {
          try {
            controller.abort(reason);
            aborted = true;
          } catch {
            // Deno: the runtime itself cannot abort it any more.
          }
        }
        if (!aborted) b.close();
        for (
          const [what, pending] of [["waiting", waiting], [
            "queued",
            queued,
          ]] as const
        ) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const outcome = await Promise.race([
            pending,
            new Promise((resolve) => {
              timer = setTimeout(() => resolve("hung"), 10_000);
            }),
          ]);
          clearTimeout(timer);
          // fdpass no longer hands such a signal to the engine: it counts as
          // aborted with a TypeError, seen by the abort listener (Bun), as a
          // queued call reaches its turn, or by a call still spinning before
          // it parks (under qemu, 20 ms is not enough to park); close() ends
          // a parked one.
          const changed = outcome instanceof TypeError &&
            /prototype/.test(outcome.message);
          assert.ok(
            changed ||
              (!aborted && what === "waiting" &&
                outcome instanceof ClosedError),
            `${end}, ${what}: ${String(outcome)}`,
          );
        }
        if (aborted) {
          a.sendSync(new Uint8Array([4]));
          assert.equal((await b.receive(new Uint8Array(8))).bytes, 1);
        }
      } finally {
        a.close();
        b.close();
      }
    }
  });
});

test("a signal given a Proxy prototype while a call is queued: fdpass runs none of its traps, and the call rejects with fdpass's TypeError, never a message or another value", async () => {
  await noLeak(async () => {
    const [a, b] = socketPair("seqpacket");
    try {
      const { signal } = new AbortController();
      const first = b.receive(new Uint8Array(8));
      const queued = b.receive(new Uint8Array(8), { signal });
      let traps = 0;
      // Deno's brand check walks the chain: this proxy passes it by naming
      // AbortSignal.prototype, except once, when it throws. Before, the
      // engine ran it inside fdpass: the queued receive took a message (it
      // still read as a working signal), or rejected with `undefined`.
      const proxy = new Proxy(AbortSignal.prototype, {
        getPrototypeOf(): object {
          if (++traps === 1) throw new Error("refused once");
          return AbortSignal.prototype;
        },
      });
      Object.setPrototypeOf(signal, proxy);
      a.sendSync(new Uint8Array([1]));
      a.sendSync(new Uint8Array([2]));
      assert.equal((await first).bytes, 1);
      const outcome = await queued.then(() => "resolved", (e: unknown) => e);
      assert.ok(
        outcome instanceof TypeError && /prototype/.test(outcome.message),
        String(outcome),
      );
      assert.equal(traps, 0);
      // The socket goes on: the second message is still there.
      const buffer = new Uint8Array(8);
      const next = await b.receive(buffer);
      assert.deepEqual([next.bytes, buffer[0]], [1, 2]);
    } finally {
      a.close();
      b.close();
    }
  });
});

test("once its signal's prototype is changed, a call parked in the reactor and a queued Channel receive whose frame is buffered reject with fdpass's TypeError, and never take the message", async () => {
  await noLeak(async () => {
    const changed = (outcome: unknown) =>
      outcome instanceof TypeError && /prototype/.test(outcome.message);
    const settled = (pending: Promise<unknown>) =>
      pending.then(() => "resolved", (error: unknown) => error);
    {
      const [a, b] = socketPair("seqpacket");
      try {
        const { signal } = new AbortController();
        const parked = settled(b.receive(new Uint8Array(8), { signal }));
        // Long enough to park on x86_64; still spinning under qemu, which
        // must end the same way.
        await new Promise((resolve) => setTimeout(resolve, 100));
        Object.setPrototypeOf(signal, {});
        a.sendSync(new Uint8Array([1]));
        const outcome = await parked;
        assert.ok(changed(outcome), `parked: ${String(outcome)}`);
        const buffer = new Uint8Array(8);
        assert.equal((await b.receive(buffer)).bytes, 1);
        assert.equal(buffer[0], 1);
      } finally {
        a.close();
        b.close();
      }
    }
    {
      const [a, b] = socketPair("stream");
      const left = new Channel(a);
      const right = new Channel(b);
      try {
        const { signal } = new AbortController();
        const first = right.receive();
        const queued = settled(right.receive({ signal }));
        Object.setPrototypeOf(signal, {});
        // Both frames arrive together: the first receive buffers the second.
        left.sendSync(new Uint8Array([1]));
        left.sendSync(new Uint8Array([2, 3]));
        assert.deepEqual([...(await first).data], [1]);
        const outcome = await queued;
        assert.ok(changed(outcome), `queued: ${String(outcome)}`);
        assert.deepEqual([...(await right.receive()).data], [2, 3]);
      } finally {
        left.close();
        right.close();
      }
    }
  });
});

test("a Proxy around a real signal whose trap throws once its call waits: the call rejects with fdpass's TypeError, and the reactor goes on serving other sockets (Bun refuses the proxy up front)", async () => {
  await noLeak(async () => {
    const controller = new AbortController();
    let throwing = false;
    const signal = new Proxy(controller.signal, {
      getPrototypeOf(target): object | null {
        if (throwing) throw new Error("trap threw");
        return Reflect.getPrototypeOf(target);
      },
    });
    const [a, b] = socketPair("seqpacket");
    const [x, y] = socketPair("seqpacket");
    try {
      let pending: Promise<unknown>;
      try {
        pending = b.receive(new Uint8Array(8), { signal });
      } catch (error) {
        pending = Promise.reject(error);
      }
      const outcome = pending.then(() => "resolved", (error: unknown) => error);
      const other = y.receive(new Uint8Array(8)); // no signal
      await new Promise((resolve) => setTimeout(resolve, 100));
      throwing = true;
      a.sendSync(new Uint8Array([1]));
      const got = await outcome;
      assert.ok(
        got instanceof TypeError && /prototype/.test(got.message),
        String(got),
      );
      x.sendSync(new Uint8Array([2]));
      assert.equal((await other).bytes, 1);
      const later = y.receive(new Uint8Array(8));
      await new Promise((resolve) => setTimeout(resolve, 100));
      x.sendSync(new Uint8Array([3]));
      assert.equal((await later).bytes, 1);
      // The message the refused call never took is still there.
      assert.equal(b.receiveSync(new Uint8Array(8)).bytes, 1);
    } finally {
      throwing = false;
      closeAll([a, b, x, y]);
    }
  });
});

test("a Channel sends numbers only: an object whose fd is not a number is a TypeError before anything is sent, and its getters never run", async () => {
  await noLeak(() => {
    const [a, b] = socketPair("stream");
    const left = new Channel(a);
    let ran = 0;
    const nested = {
      fd: {
        get fd(): number {
          ran++;
          return 0;
        },
      },
    };
    try {
      for (const fd of [nested, { fd: "3" }, { fd: -1 }, 1.5]) {
        assert.throws(
          () => left.sendSync(new Uint8Array([1]), [fd as unknown as number]),
          TypeError,
        );
      }
      assert.equal(ran, 0);
      assert.throws(
        () => b.receiveSync(new Uint8Array(8), { nonblocking: true }),
        (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
      );
    } finally {
      left.close();
      b.close();
    }
  });
});

test('receiveCredentials("no") is a TypeError and leaves credentials off', async () => {
  await noLeak(() => {
    using p = pair("dgram");
    const { a, b } = p;
    assert.throws(
      () => b.receiveCredentials("no" as unknown as boolean),
      TypeError,
    );
    a.sendSync(new Uint8Array([1]));
    assert.equal(b.receiveSync(new Uint8Array(1)).credentials, undefined);
  });
});

test("a signal that is not an AbortSignal is a TypeError before anything happens, and the socket stays usable", async () => {
  await noLeak(async () => {
    using p = pair();
    const { a, b } = p;
    const controller = new AbortController();
    const notSignals = [
      controller,
      Object.create(AbortSignal.prototype),
      {
        aborted: false,
        addEventListener(): void {},
        removeEventListener(): void {},
      },
    ] as unknown as AbortSignal[];
    for (const signal of notSignals) {
      await assert.rejects(b.receive(new Uint8Array(1), { signal }), TypeError);
      await assert.rejects(
        a.send(new Uint8Array([1]), [], { signal }),
        TypeError,
      );
    }
    assert.ok(empty(b));
    const pending = b.receive(new Uint8Array(1), { signal: controller.signal });
    a.sendSync(new Uint8Array([5]));
    assert.equal((await pending).bytes, 1);
    const [x, y] = socketPair();
    using left = new Channel(x);
    const signal = controller as unknown as AbortSignal;
    await assert.rejects(left.receive({ signal }), TypeError);
    await assert.rejects(
      left.send(new Uint8Array(1), [], { signal }),
      TypeError,
    );
    y.close();
  });
});

test("listen() refuses a backlog or mode out of range before any syscall, and nothing leaks", async () => {
  await noLeak(() => {
    const name = abstractName("backlog");
    for (const backlog of [2 ** 31, 2 ** 32, -1, 1.5]) {
      assert.throws(() => listen(name, { backlog }), RangeError);
    }
    assert.throws(
      () => listen(name, { backlog: "5" as unknown as number }),
      TypeError,
    );
    assert.throws(() => listen(name, { mode: 0o10000 }), RangeError);
    // The name was never bound: listening on it now works.
    listen(name, { backlog: 0x7fff_ffff }).close();
  });
});

test("fromFd(2 ** 31) is a RangeError before FFI, and every integer crossing the FFI is range-checked", async () => {
  await noLeak(() => {
    for (const fd of [2 ** 31, 2 ** 32 + 3]) {
      assert.throws(() => UnixSocket.fromFd(fd), RangeError);
      assert.throws(() => UnixListener.fromFd(fd), RangeError);
    }
    assert.throws(() => UnixSocket.fromFd("3" as unknown as number), TypeError);
    const lib = libc();
    assert.throws(() => lib.close(2 ** 31), RangeError);
    assert.throws(() => lib.shutdown(0, 2 ** 31), RangeError);
    assert.throws(() => lib.chmod(new Uint8Array(2), -1), RangeError);
    assert.throws(() => lib.read(0, new Uint8Array(1), -1), RangeError);
    assert.throws(() => lib.close("0" as unknown as number), TypeError);
  });
});

test("fromFd() refuses TCP and UDP sockets with a TypeError and leaves them open", async () => {
  await noLeak(() => {
    const lib = libc();
    const c = lib.platform.constants;
    const AF_INET = 2;
    const AF_INET6 = 10;
    for (
      const [family, type] of [
        [AF_INET, c.SOCK_STREAM],
        [AF_INET, c.SOCK_DGRAM],
        [AF_INET6, c.SOCK_STREAM],
      ] as const
    ) {
      const n = lib.socket(family, type | c.SOCK_CLOEXEC, 0);
      assert.ok(n >= 0, `socket() failed: ${n}`);
      const owned = new OwnedFd(n);
      try {
        assert.throws(() => UnixSocket.fromFd(n), TypeError);
        assert.throws(() => UnixListener.fromFd(n), TypeError);
        assert.throws(() => UnixSocket.fromFd(owned), TypeError);
        assert.equal(owned.closed, false);
        assert.ok(lib.fcntl(n, c.F_GETFD, 0) >= 0, "the descriptor was closed");
      } finally {
        owned.close();
      }
    }
  });
});

test("a path with a lone surrogate is a TypeError, never bound as U+FFFD", async () => {
  await noLeak(() => {
    const name = abstractName("surrogate");
    for (
      const path of [`${name}\ud800`, `${name}\udc00x`, "/tmp/\ud83d.sock"]
    ) {
      assert.throws(() => listen(path), TypeError);
      assert.throws(() => bind(path), TypeError);
      assert.throws(() => connect(path), TypeError);
    }
    // A whole surrogate pair is an ordinary character.
    listen(`${name}\ud83d\ude00`).close();
  });
});

/** Fills `socket`'s send buffer until the kernel would block. */
function fill(socket: UnixSocket): void {
  const chunk = new Uint8Array(65536);
  for (;;) {
    try {
      socket.sendSync(chunk, [], { nonblocking: true });
    } catch (error) {
      if (error instanceof SystemError && error.code === "EAGAIN") return;
      throw error;
    }
  }
}

/** Reads everything queued on `socket`; the byte count. */
function drain(socket: UnixSocket): number {
  const into = new Uint8Array(65536);
  let total = 0;
  for (;;) {
    try {
      total += socket.receiveSync(into, { nonblocking: true }).bytes;
    } catch (error) {
      if (error instanceof SystemError && error.code === "EAGAIN") return total;
      throw error;
    }
  }
}

const tick = (): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, 1));

test("a pending send whose data is detached or shrunk rejects with TypeError instead of spinning, and a 1 ms timer keeps ticking", async () => {
  await noLeak(async () => {
    // Bun under qemu-user aborts creating any resizable ArrayBuffer.
    const resizable = RUNTIME === "deno" ||
      !skipUnderQemu("resizable buffer", "Bun aborts in mprotect under qemu");
    const ways = ["transfer", "resize", "channel"] as const;
    for (const how of ways.filter((w) => w !== "resize" || resizable)) {
      using p = pair();
      const { a, b } = p;
      fill(a);
      let data: Uint8Array;
      let shrink: () => void;
      if (how === "resize") {
        const Resizable = ArrayBuffer as unknown as new (
          n: number,
          o: { maxByteLength: number },
        ) => ArrayBuffer & { resize(n: number): void };
        const buffer = new Resizable(1000, { maxByteLength: 1000 });
        data = new Uint8Array(buffer);
        shrink = () => buffer.resize(0);
      } else {
        const u = new Uint8Array(1000);
        data = u;
        shrink = () => structuredClone(u.buffer, { transfer: [u.buffer] });
      }
      const pending = how === "channel"
        ? new Channel(a).send(data)
        : a.send(data);
      shrink();
      drain(b);
      await assert.rejects(pending, TypeError);
      await tick();
    }
  });
});

test("emptying the array of buffers while the send is pending changes nothing: every byte is sent", async () => {
  await noLeak(async () => {
    using p = pair();
    const { a, b } = p;
    fill(a);
    const buffers = [new Uint8Array(700), new Uint8Array(300)];
    const pending = a.send(buffers);
    buffers.length = 0;
    drain(b);
    assert.equal(await pending, 1000);
    let received = 0;
    while (received < 1000) {
      received += (await b.receive(new Uint8Array(4096))).bytes;
    }
    assert.equal(received, 1000);
  });
});

test("Channel.close() as a receive completes: the receive rejects with ClosedError and its fds are closed", async () => {
  await noLeak(async () => {
    for (const kind of ["stream", "seqpacket"] as const) {
      const [a, b] = socketPair(kind);
      using sender = new Channel(a);
      using receiver = new Channel(b);
      // Another handler of the same wake-up closes the channel between the
      // socket's receive and the channel's use of its result.
      const socket = receiver.socket;
      const real = socket.receive.bind(socket);
      socket.receive = async (buffer, options) => {
        const result = await real(buffer, options);
        receiver.close();
        return result;
      };
      const [r, w] = pipe();
      sender.sendSync(new Uint8Array([1, 2, 3]), [r, w]);
      closeAll([r, w]);
      await assert.rejects(receiver.receive(), ClosedError);
    }
  });
});

test(
  "SO_PASSPIDFD: the pidfd the kernel adds to every message is closed, and 253 fds still fit on an adopted socket",
  {
    skip: skipUnderQemu(
      "SO_PASSPIDFD",
      "qemu-user does not pass SO_PASSPIDFD through",
    ) ||
      (passPidfdSupported()
        ? false
        : "the kernel has no SO_PASSPIDFD (Linux 6.5+)"),
  },
  async () => {
    await noLeak(async () => {
      const lib = libc();
      const c = lib.platform.constants;
      const on = new Uint8Array([1, 0, 0, 0]);
      const [a, b] = socketPair("seqpacket");
      const raw = lib.fcntl(b.fd, c.F_DUPFD_CLOEXEC, 0);
      b.close();
      assert.equal(lib.setsockopt(raw, c.SOL_SOCKET, c.SO_PASSPIDFD, on, 4), 0);
      const adopted = UnixSocket.fromFd(raw);
      const [x, y] = socketPair("seqpacket");
      // Switched on behind fdpass's back, after the socket was made.
      assert.equal(
        lib.setsockopt(y.fd, c.SOL_SOCKET, c.SO_PASSPIDFD, on, 4),
        0,
      );
      const [r, w] = pipe();
      try {
        for (const [sender, receiver] of [[a, adopted], [x, y]] as const) {
          for (let i = 0; i < 3; i++) {
            sender.sendSync(new Uint8Array([i]), [r]);
            const got = i === 2
              ? await receiver.receive(new Uint8Array(4))
              : receiver.receiveSync(new Uint8Array(4));
            assert.equal(got.fds.length, 1);
            assert.equal(inodeOf(got.fds[0]!.fd), inodeOf(r.fd));
            closeAll(got.fds);
          }
        }
        a.sendSync(new Uint8Array([9]), new Array(253).fill(r));
        const all = adopted.receiveSync(new Uint8Array(4));
        assert.equal(all.fds.length, 253);
        closeAll(all.fds);
        const pidfds = [...openFds().values()].filter((t) =>
          t.includes("pidfd")
        );
        assert.deepEqual(pidfds, []);
      } finally {
        closeAll([a, adopted, x, y, r, w]);
      }
    });
  },
);

test("a control message fdpass does not know is reported (ERR_CONTROL_UNKNOWN) and the fds with it are closed", async () => {
  await noLeak(() => {
    using p = pair("dgram");
    const { a, b } = p;
    const lib = libc();
    const SO_TIMESTAMP = 29;
    const on = new Uint8Array([1, 0, 0, 0]);
    assert.equal(
      lib.setsockopt(
        b.fd,
        lib.platform.constants.SOL_SOCKET,
        SO_TIMESTAMP,
        on,
        4,
      ),
      0,
    );
    const [r, w] = pipe();
    try {
      a.sendSync(new Uint8Array([1]), [r, w]);
      assert.throws(
        () => b.receiveSync(new Uint8Array(4)),
        (e: unknown) =>
          e instanceof ControlMessageError &&
          e.code === "ERR_CONTROL_UNKNOWN" && e.closedFds === 2,
      );
    } finally {
      closeAll([r, w]);
    }
  });
});

test("a view sent from, then emptied by transferring its buffer, is never read again; views of the moved storage send their own bytes", async () => {
  await noLeak(() => {
    // fdpass remembers where the last views it used live; a view whose
    // buffer was transferred must not be served from that memory.
    for (const kind of ["stream", "dgram"] as const) {
      using p = pair(kind);
      const { a, b } = p;
      const into = new Uint8Array(64);
      for (const size of [16, 4096]) {
        const view = new Uint8Array(size).fill(1);
        const landing = new Uint8Array(size);
        for (let i = 0; i < 3; i++) {
          assert.equal(a.sendSync(view), size);
          assert.equal(b.receiveSync(landing).bytes, size);
        }
        const moved = structuredClone(view.buffer, {
          transfer: [view.buffer],
        });
        assert.equal(view.byteLength, 0);
        assert.throws(() => a.sendSync(view), TypeError);
        assert.throws(
          () => b.receiveSync(view, { nonblocking: true }),
          TypeError,
        );
        const fresh = new Uint8Array(moved, size - 4);
        fresh.set([7, 8, 9, 10]);
        assert.equal(a.sendSync(fresh), 4);
        const { bytes } = b.receiveSync(into);
        assert.deepEqual([...into.subarray(0, bytes)], [7, 8, 9, 10]);
      }
    }
  });
});
