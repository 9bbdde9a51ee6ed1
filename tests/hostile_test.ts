/**
 * Hostile and careless callers (issue 11): every promise of the README's
 * "Guarantees" holds against lying typed arrays, huge and detached buffers,
 * getters that close the socket, look-alike signals and foreign sockets.
 * Each case runs in both runtimes inside `noLeak()`.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Channel,
  ClosedError,
  OwnedFd,
  pipe,
  type SocketKind,
  socketPair,
  SystemError,
  type UnixSocket,
} from "../mod.ts";
import { noLeak } from "./_helpers.ts";

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

test("a 4 GiB receive buffer reads the data, not a false end of stream", async () => {
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
});

test("a seqpacket message of 4 GiB is a RangeError, never an empty message", async () => {
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
});

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

void ClosedError;
void OwnedFd;
