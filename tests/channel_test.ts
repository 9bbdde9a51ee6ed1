/**
 * Channel: frames with their descriptors over stream, seqpacket and dgram
 * sockets. Round trips through the public API; adversarial stream peers (a
 * raw UnixSocket writing frames byte by byte with the fds on the first, a
 * middle or the last byte, frames merged into one write, the next frame's
 * fds arriving while a frame is being read); bad headers, oversize frames,
 * unclaimed and missing fds, end of stream inside a frame; and a child
 * process of the other runtime on the far end. Every descriptor a test sends
 * is a pipe end whose inode identifies it, so a descriptor handed out with
 * the wrong frame fails the test.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Channel,
  ClosedError,
  type FdLike,
  type Frame,
  FrameError,
  type FrameErrorCode,
  listen,
  type OwnedFd,
  pipe,
  type SocketKind,
  socketPair,
  type UnixSocket,
} from "../mod.ts";
import {
  abstractName,
  inodeOf,
  noLeak,
  runScript,
  RUNTIME,
} from "./_helpers.ts";

const LONG = { timeout: 120_000 };
const OTHER = RUNTIME === "bun" ? "deno" : "bun";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string): Uint8Array => encoder.encode(s);

/** An 8-byte stream frame header, as channel.ts documents it. */
function header(length: number, fds: number, reserved = 0): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, length, true);
  view.setUint16(4, fds, true);
  view.setUint16(6, reserved, true);
  return bytes;
}

/** Header and payload of one stream frame, in one array. */
function framed(payload: Uint8Array, fds: number): Uint8Array {
  const bytes = new Uint8Array(8 + payload.length);
  bytes.set(header(payload.length, fds));
  bytes.set(payload, 8);
  return bytes;
}

/** `n` pipes: the ends to send, and the other ends that identify them. */
class Pipes {
  readonly sent: OwnedFd[] = [];
  readonly kept: OwnedFd[] = [];
  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const [r, w] = pipe();
      this.sent.push(w);
      this.kept.push(r);
    }
  }
  /** The inodes of the sent ends, in order. */
  identities(): string[] {
    return this.kept.map((fd) => inodeOf(fd.fd));
  }
  close(): void {
    for (const fd of [...this.sent, ...this.kept]) fd.close();
  }
}

/** Asserts `frame.fds` are exactly `pipes`' sent ends, in order, then closes them. */
function expectFds(frame: Frame, pipes: Pipes): void {
  assert.deepEqual(
    frame.fds.map((fd) => inodeOf(fd.fd)),
    pipes.identities(),
  );
  for (const fd of frame.fds) fd.close();
}

/** Asserts `caught` is a FrameError with `code` that closed `closedFds`. */
function checkFrameError(
  caught: unknown,
  code: FrameErrorCode,
  closedFds: number,
): FrameError {
  assert.ok(caught instanceof FrameError, `expected FrameError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.closedFds, closedFds, caught.message);
  return caught;
}

/** Awaits `body` and expects a FrameError with `code` that closed `closedFds`. */
async function expectFrameError(
  body: () => Promise<unknown>,
  code: FrameErrorCode,
  closedFds: number,
): Promise<FrameError> {
  try {
    await body();
  } catch (error) {
    return checkFrameError(error, code, closedFds);
  }
  assert.fail(`expected FrameError ${code}, got no error`);
}

/** Runs `body` and expects a FrameError with `code` that closed `closedFds`. */
function expectFrameErrorSync(
  body: () => unknown,
  code: FrameErrorCode,
  closedFds: number,
): FrameError {
  try {
    body();
  } catch (error) {
    return checkFrameError(error, code, closedFds);
  }
  assert.fail(`expected FrameError ${code}, got no error`);
}

/** Sends `bytes` one byte per sendmsg, with `fdsAt[i]` attached to byte i. */
async function trickle(
  socket: UnixSocket,
  bytes: Uint8Array,
  fdsAt: ReadonlyMap<number, readonly FdLike[]>,
): Promise<void> {
  for (let i = 0; i < bytes.length; i++) {
    socket.sendSync(bytes.subarray(i, i + 1), fdsAt.get(i) ?? []);
    // Let the receiver read each byte on its own.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const randomBytes = (n: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);

// --- Round trips --------------------------------------------------------------

for (const kind of ["stream", "seqpacket", "dgram"] as const) {
  test(
    `send()/receive() deliver each frame with exactly its own fds (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        using left = new Channel(a);
        using right = new Channel(b);
        const sizes = [0, 1, 7, 8, 100, 4096];
        const counts = [1, 0, 3, 1, 253, 2];
        const all = sizes.map((_, i) => new Pipes(counts[i]!));
        try {
          for (let i = 0; i < sizes.length; i++) {
            const payload = randomBytes(sizes[i]!, i);
            const pending = right.receive();
            await left.send(payload, all[i]!.sent);
            const frame = await pending;
            assert.deepEqual(frame.data, payload);
            expectFds(frame, all[i]!);
          }
        } finally {
          for (const p of all) p.close();
        }
      });
    },
  );

  test(
    `sendSync()/receiveSync() deliver frames queued back to back with their own fds (${kind}, ${RUNTIME})`,
    async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        using left = new Channel(a);
        using right = new Channel(b);
        const count = 20;
        // Frame 0 is empty: it carries a descriptor (seqpacket needs one).
        const all = Array.from(
          { length: count },
          (_, i) => new Pipes((i + 1) % 4),
        );
        try {
          // All queued before the first read, so a stream read can merge frames.
          for (let i = 0; i < count; i++) {
            left.sendSync(randomBytes(i * 13, i), all[i]!.sent);
          }
          for (let i = 0; i < count; i++) {
            const frame = right.receiveSync();
            assert.deepEqual(frame.data, randomBytes(i * 13, i));
            expectFds(frame, all[i]!);
          }
        } finally {
          for (const p of all) p.close();
        }
      });
    },
  );
}

test(
  `a stream frame larger than the socket buffer arrives whole, its fds with it, and the next frame's fds with the next (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const size = 3 * 1024 * 1024;
      using left = new Channel(a, { maxFrameSize: size });
      using right = new Channel(b, { maxFrameSize: size });
      const first = new Pipes(2);
      const second = new Pipes(3);
      try {
        const big = randomBytes(size, 1);
        const sending = Promise.all([
          left.send(big, first.sent),
          left.send(text("after"), second.sent),
        ]);
        const one = await right.receive();
        const two = await right.receive();
        await sending;
        assert.equal(one.data.length, size);
        assert.deepEqual(one.data, big);
        expectFds(one, first);
        assert.equal(decoder.decode(two.data), "after");
        expectFds(two, second);
      } finally {
        first.close();
        second.close();
      }
    });
  },
);

test(
  `async iteration yields every frame and ends at end of stream (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      for (const kind of ["stream", "seqpacket"] as const) {
        const [a, b] = socketPair(kind);
        const sender = new Channel(a);
        for (const word of ["one", "two", "three"]) {
          sender.sendSync(text(word));
        }
        sender.close();
        using receiver = new Channel(b);
        const words: string[] = [];
        for await (const frame of receiver) {
          words.push(decoder.decode(frame.data));
        }
        assert.deepEqual(words, ["one", "two", "three"], kind);
        await expectFrameError(
          () => receiver.receive(),
          "ERR_END_OF_STREAM",
          0,
        );
      }
    });
  },
);

test(
  `async iteration ends when the channel is closed while it waits (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      const channel = new Channel(b);
      const frames: Frame[] = [];
      const loop = (async () => {
        for await (const frame of channel) frames.push(frame);
      })();
      a.sendSync(framed(text("x"), 0));
      while (frames.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      channel.close();
      await loop;
      assert.equal(frames.length, 1);
      a.close();
    });
  },
);

test(
  `receives run in call order and close() rejects the pending ones with ClosedError (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      using left = new Channel(a);
      const right = new Channel(b);
      const pending = [right.receive(), right.receive(), right.receive()];
      left.sendSync(text("1"));
      left.sendSync(text("2"));
      const got = await Promise.all(pending.slice(0, 2));
      assert.deepEqual(got.map((f) => decoder.decode(f.data)), ["1", "2"]);
      right.close();
      await assert.rejects(pending[2]!, ClosedError);
      assert.throws(() => right.receiveSync(), ClosedError);
    });
  },
);

test(
  `an aborted receive consumes nothing: the partly arrived frame is whole on the next receive (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      using right = new Channel(b);
      const p = new Pipes(1);
      try {
        const bytes = framed(text("patience"), 1);
        a.sendSync(bytes.subarray(0, 5), p.sent);
        await assert.rejects(
          right.receive({ signal: AbortSignal.timeout(30) }),
          { name: "TimeoutError" },
        );
        const queued = new AbortController();
        queued.abort(new Error("gone"));
        await assert.rejects(right.receive({ signal: queued.signal }), {
          message: "gone",
        });
        a.sendSync(bytes.subarray(5));
        const frame = await right.receive();
        assert.equal(decoder.decode(frame.data), "patience");
        expectFds(frame, p);
      } finally {
        p.close();
        a.close();
      }
    });
  },
);

test(
  `the sync twins refuse to cut into a pending async operation (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      const maxFrameSize = 8 * 1024 * 1024;
      using left = new Channel(a, { maxFrameSize });
      using right = new Channel(b, { maxFrameSize });
      const pending = right.receive();
      assert.throws(() => right.receiveSync(), /async receive is pending/);
      // A frame far larger than the socket buffer keeps the async send writing.
      const big = new Uint8Array(maxFrameSize);
      const sending = left.send(big);
      assert.throws(() => left.sendSync(text("x")), /async send is writing/);
      const frame = await pending;
      await sending;
      assert.equal(frame.data.length, big.length);
    });
  },
);

test(
  `send rejects what the peer could not read (oversize frames, 254 fds, an empty seqpacket frame without fds) and sends nothing; an empty dgram frame is fine (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("seqpacket");
      using left = new Channel(a, { maxFrameSize: 16 });
      using right = new Channel(b);
      const p = new Pipes(254);
      try {
        assert.throws(() => left.sendSync(new Uint8Array(17)), RangeError);
        await assert.rejects(left.send(new Uint8Array(17)), RangeError);
        assert.throws(() => left.sendSync(text("x"), p.sent), RangeError);
        assert.throws(() => left.sendSync(new Uint8Array(0)), RangeError);
        assert.throws(
          () => left.sendSync("text" as unknown as Uint8Array),
          TypeError,
        );
        // Nothing went out: the first frame the peer sees is this one.
        left.sendSync(new Uint8Array(0), p.sent.slice(0, 1));
        const frame = right.receiveSync();
        assert.equal(frame.data.length, 0);
        assert.deepEqual(
          frame.fds.map((fd) => inodeOf(fd.fd)),
          [inodeOf(p.kept[0]!.fd)],
        );
        for (const fd of frame.fds) fd.close();
      } finally {
        p.close();
      }
      // On a datagram socket an empty frame is a frame like any other.
      const [c, d] = socketPair("dgram");
      using sender = new Channel(c);
      using receiver = new Channel(d);
      sender.sendSync(new Uint8Array(0));
      const empty = receiver.receiveSync();
      assert.equal(empty.data.length, 0);
      assert.equal(empty.fds.length, 0);
      assert.throws(() => new Channel(a, { maxFrameSize: 0 }), RangeError);
      assert.throws(
        () => new Channel({} as unknown as UnixSocket),
        TypeError,
      );
    });
  },
);

// --- Adversarial stream peers ------------------------------------------------

for (
  const [where, at] of [
    ["the first header byte", (_n: number) => 0],
    ["a middle payload byte", (n: number) => Math.floor(n / 2) + 4],
    ["the last payload byte", (n: number) => n - 1],
  ] as const
) {
  test(
    `a frame written byte by byte with its fds on ${where} arrives whole with them (${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [raw, b] = socketPair();
        using channel = new Channel(b);
        const first = new Pipes(2);
        const second = new Pipes(1);
        try {
          const one = framed(text("first frame"), 2);
          const two = framed(text("second"), 1);
          // Read while the bytes trickle in: each read sees a byte or two.
          const frames = Promise.all([channel.receive(), channel.receive()]);
          await trickle(raw, one, new Map([[at(one.length), first.sent]]));
          await trickle(raw, two, new Map([[at(two.length), second.sent]]));
          const [x, y] = await frames;
          assert.equal(decoder.decode(x.data), "first frame");
          expectFds(x, first);
          assert.equal(decoder.decode(y.data), "second");
          expectFds(y, second);

          // The same bytes queued before any read: the kernel merges them.
          const third = new Pipes(2);
          try {
            for (let i = 0; i < one.length; i++) {
              raw.sendSync(
                one.subarray(i, i + 1),
                i === at(one.length) ? third.sent : [],
              );
            }
            const z = channel.receiveSync();
            assert.equal(decoder.decode(z.data), "first frame");
            expectFds(z, third);
          } finally {
            third.close();
          }
        } finally {
          first.close();
          second.close();
          raw.close();
        }
      });
    },
  );
}

test(
  `two frames merged into one write: the fds go to the frame whose header claims them (${RUNTIME})`,
  async () => {
    await noLeak(() => {
      const [raw, b] = socketPair();
      using channel = new Channel(b);
      const p = new Pipes(2);
      const q = new Pipes(3);
      try {
        const claimFirst = new Uint8Array([
          ...framed(text("has fds"), 2),
          ...framed(text("has none"), 0),
        ]);
        raw.sendSync(claimFirst, p.sent);
        const claimSecond = new Uint8Array([
          ...framed(text("has none"), 0),
          ...framed(text("has fds"), 3),
        ]);
        raw.sendSync(claimSecond, q.sent);
        const frames = [1, 2, 3, 4].map(() => channel.receiveSync());
        assert.deepEqual(
          frames.map((f) => decoder.decode(f.data)),
          ["has fds", "has none", "has none", "has fds"],
        );
        expectFds(frames[0]!, p);
        assert.equal(frames[1]!.fds.length, 0);
        assert.equal(frames[2]!.fds.length, 0);
        expectFds(frames[3]!, q);
      } finally {
        p.close();
        q.close();
        raw.close();
      }
    });
  },
);

test(
  `the next frame's fds arriving while a frame is still being read wait for their own frame (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [raw, b] = socketPair();
      using channel = new Channel(b);
      const p = new Pipes(1);
      const q = new Pipes(2);
      try {
        const one = framed(randomBytes(1000, 3), 1);
        const two = framed(text("two"), 2);
        raw.sendSync(one.subarray(0, 300), p.sent);
        const first = channel.receive();
        await new Promise((resolve) => setTimeout(resolve, 10));
        // The rest of frame 1 and all of frame 2 in one write carrying
        // frame 2's fds: they arrive before frame 1 is complete.
        raw.sendSync(new Uint8Array([...one.subarray(300), ...two]), q.sent);
        const x = await first;
        assert.deepEqual(x.data, randomBytes(1000, 3));
        expectFds(x, p);
        const y = await channel.receive();
        assert.equal(decoder.decode(y.data), "two");
        expectFds(y, q);
      } finally {
        p.close();
        q.close();
        raw.close();
      }
    });
  },
);

test(
  `close() closes fds that arrived for a frame not yet handed out (${RUNTIME})`,
  async () => {
    await noLeak(() => {
      const [raw, b] = socketPair();
      const channel = new Channel(b);
      const p = new Pipes(3);
      try {
        const two = framed(text("never read"), 3);
        raw.sendSync(
          new Uint8Array([...framed(text("read"), 0), ...two.subarray(0, 9)]),
          p.sent,
        );
        assert.equal(decoder.decode(channel.receiveSync().data), "read");
      } finally {
        p.close();
      }
      // The three received copies sit in the channel: noLeak sees them go.
      channel.close();
      channel.close();
      raw.close();
    });
  },
);

// --- Errors --------------------------------------------------------------------

test(
  `a bad header fails with ERR_FRAME_HEADER, closes the fds sent with it, and every later receive fails the same (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      for (const bad of [header(4, 1, 0x0100), header(4, 254)]) {
        const [raw, b] = socketPair();
        using channel = new Channel(b);
        const p = new Pipes(2);
        try {
          raw.sendSync(new Uint8Array([...bad, 1, 2, 3, 4]), p.sent);
          const error = await expectFrameError(
            () => channel.receive(),
            "ERR_FRAME_HEADER",
            2,
          );
          raw.sendSync(framed(text("too late"), 0));
          assert.throws(() => channel.receiveSync(), (e) => e === error);
          await assert.rejects(channel.receive(), (e) => e === error);
        } finally {
          p.close();
          raw.close();
        }
      }
    });
  },
);

test(
  `a header announcing more than maxFrameSize fails with ERR_FRAME_TOO_LARGE before the payload is read (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [raw, b] = socketPair();
      using channel = new Channel(b, { maxFrameSize: 1000 });
      const p = new Pipes(1);
      try {
        // Only the header is sent: the channel must not wait for the payload.
        raw.sendSync(header(1001, 1), p.sent);
        await expectFrameError(
          () => channel.receive(),
          "ERR_FRAME_TOO_LARGE",
          1,
        );
      } finally {
        p.close();
        raw.close();
      }
    });
  },
);

for (const kind of ["seqpacket", "dgram"] as const) {
  test(
    `a ${kind} message larger than maxFrameSize fails with ERR_FRAME_TOO_LARGE, its fds closed, and the next frame arrives (${RUNTIME})`,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        using left = new Channel(a);
        using right = new Channel(b, { maxFrameSize: 100 });
        const p = new Pipes(2);
        try {
          left.sendSync(new Uint8Array(101), p.sent);
          left.sendSync(text("fits"));
          await expectFrameError(
            () => right.receive(),
            "ERR_FRAME_TOO_LARGE",
            2,
          );
          assert.equal(decoder.decode(right.receiveSync().data), "fits");
        } finally {
          p.close();
        }
      });
    },
  );
}

test(
  `fds with a frame that claims none fail with ERR_FRAME_FDS_UNCLAIMED, all closed (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      const [raw, b] = socketPair();
      using channel = new Channel(b);
      const p = new Pipes(3);
      try {
        raw.sendSync(framed(text("claims none"), 0), p.sent);
        raw.sendSync(framed(text("never handed out"), 0));
        await expectFrameError(
          () => channel.receive(),
          "ERR_FRAME_FDS_UNCLAIMED",
          3,
        );
      } finally {
        p.close();
        raw.close();
      }
    });
  },
);

test(
  `more fds than the header claims fail with ERR_FRAME_FDS_UNCLAIMED, all closed (${RUNTIME})`,
  async () => {
    await noLeak(() => {
      const [raw, b] = socketPair();
      using channel = new Channel(b);
      const p = new Pipes(3);
      try {
        raw.sendSync(framed(text("claims two"), 2), p.sent);
        expectFrameErrorSync(
          () => channel.receiveSync(),
          "ERR_FRAME_FDS_UNCLAIMED",
          3,
        );
      } finally {
        p.close();
        raw.close();
      }
    });
  },
);

test(
  `fewer fds than the header claims fail with ERR_FRAME_FDS_MISSING, the ones that came closed (${RUNTIME})`,
  async () => {
    await noLeak(() => {
      const [raw, b] = socketPair();
      using channel = new Channel(b);
      const p = new Pipes(1);
      try {
        raw.sendSync(framed(text("claims three"), 3), p.sent);
        expectFrameErrorSync(
          () => channel.receiveSync(),
          "ERR_FRAME_FDS_MISSING",
          1,
        );
      } finally {
        p.close();
        raw.close();
      }
      const [other, c] = socketPair();
      using second = new Channel(c);
      other.sendSync(framed(text("claims one, sends none"), 1));
      expectFrameErrorSync(
        () => second.receiveSync(),
        "ERR_FRAME_FDS_MISSING",
        0,
      );
      other.close();
    });
  },
);

test(
  `end of stream inside a header or a payload fails with ERR_FRAME_TRUNCATED, the frame's fds closed (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      for (const cut of [3, 8, 12]) {
        const [raw, b] = socketPair();
        using channel = new Channel(b);
        const p = new Pipes(2);
        try {
          raw.sendSync(framed(text("cut short"), 2).subarray(0, cut), p.sent);
          raw.close();
          await expectFrameError(
            () => channel.receive(),
            "ERR_FRAME_TRUNCATED",
            2,
          );
        } finally {
          p.close();
        }
      }
    });
  },
);

test(
  `end of stream between frames is ERR_END_OF_STREAM, each time it is asked (${RUNTIME})`,
  async () => {
    await noLeak(async () => {
      for (const kind of ["stream", "seqpacket"] as SocketKind[]) {
        const [a, b] = socketPair(kind);
        using channel = new Channel(b);
        a.close();
        await expectFrameError(() => channel.receive(), "ERR_END_OF_STREAM", 0);
        expectFrameErrorSync(
          () => channel.receiveSync(),
          "ERR_END_OF_STREAM",
          0,
        );
      }
    });
  },
);

// --- Across processes ------------------------------------------------------------

for (const kind of ["stream", "seqpacket"] as const) {
  test(
    `a ${OTHER} child gets every frame's fds with that frame and answers with its own (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const path = abstractName("channel");
        using listener = listen(path, { kind });
        const child = runScript(OTHER, "tests/peers/channel_peer.ts", [
          "echo",
          path,
          kind,
        ]);
        const socket = await listener.accept({
          signal: AbortSignal.timeout(60_000),
        });
        using channel = new Channel(socket);
        const count = 30;
        const all = Array.from({ length: count }, (_, i) => new Pipes(i % 4));
        try {
          const sending = (async () => {
            for (let i = 0; i < count; i++) {
              await channel.send(text(`frame ${i}`), all[i]!.sent);
              for (const fd of all[i]!.sent) fd.close();
            }
            channel.socket.shutdown("write");
          })();
          for (let i = 0; i < count; i++) {
            const reply = await channel.receive();
            assert.equal(decoder.decode(reply.data), `ack frame ${i}`);
            assert.equal(reply.fds.length, 1);
            using answer = reply.fds[0]!;
            const buffer = new Uint8Array(64);
            const n = answer.readSync(buffer);
            assert.equal(
              decoder.decode(buffer.subarray(0, n)),
              `reply to frame ${i}`,
            );
            // The child wrote each fd's place into it: frame i, fd j.
            all[i]!.kept.forEach((kept, j) => {
              const got = new Uint8Array(64);
              const m = kept.readSync(got);
              assert.equal(
                decoder.decode(got.subarray(0, m)),
                `frame ${i} fd ${j}`,
              );
            });
          }
          await sending;
          await expectFrameError(
            () => channel.receive(),
            "ERR_END_OF_STREAM",
            0,
          );
          const result = await child;
          assert.equal(result.code, 0, result.stderr);
        } finally {
          for (const p of all) p.close();
        }
      });
    },
  );
}

test(
  `a ${OTHER} child trickling raw frames with fds on random bytes: each frame gets its own (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const path = abstractName("channel-trickle");
      using listener = listen(path);
      const seed = Math.floor(Math.random() * 1e9);
      const child = runScript(OTHER, "tests/peers/channel_peer.ts", [
        "trickle",
        path,
        String(seed),
      ]);
      const socket = await listener.accept({
        signal: AbortSignal.timeout(60_000),
      });
      using channel = new Channel(socket);
      let frames = 0;
      for await (const frame of channel) {
        // The payload lists what each of its fds holds, in order.
        const labels = decoder.decode(frame.data).split(" ")[0]!.split(",")
          .filter((label) => label !== "");
        const contents = frame.fds.map((fd) => {
          const buffer = new Uint8Array(64);
          const n = fd.readSync(buffer);
          fd.close();
          return decoder.decode(buffer.subarray(0, n));
        });
        assert.deepEqual(contents, labels, `seed ${seed}, frame ${frames}`);
        frames++;
      }
      const result = await child;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(frames, Number(result.stdout.trim()), `seed ${seed}`);
    });
  },
);

for (const kind of ["stream", "seqpacket"] as const satisfies SocketKind[]) {
  test(
    `shutdown("write") lets the peer receive every frame sent, with its fds, then end of stream; the channel still receives (${kind}, ${RUNTIME})`,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        using left = new Channel(a);
        using right = new Channel(b);
        const [r, w] = pipe();
        left.sendSync(new Uint8Array([1, 2, 3]), [r]);
        r.close();
        left.shutdown("write");
        const frame = await right.receive();
        assert.deepEqual([...frame.data], [1, 2, 3]);
        assert.equal(frame.fds.length, 1);
        frame.fds[0]!.close();
        w.close();
        const end = await right.receive().catch((error: unknown) => error);
        assert.ok(end instanceof FrameError);
        assert.equal(end.code, "ERR_END_OF_STREAM");
        // Only writing ended: the other direction still carries frames.
        right.sendSync(new Uint8Array([9]));
        assert.deepEqual([...left.receiveSync().data], [9]);
        assert.throws(
          () => left.shutdown("sideways" as "read"),
          TypeError,
        );
        left.close();
        assert.throws(() => left.shutdown(), ClosedError);
      });
    },
  );
}
