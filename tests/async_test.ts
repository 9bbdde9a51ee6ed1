/**
 * The asynchronous API of UnixSocket: send() and receive() across the three
 * socket kinds, backpressure, call order, cancellation, close() with
 * operations pending, fd-number reuse, and 1,000 sockets waiting on one
 * reactor. Where a test needs an operation to be waiting in the reactor
 * (rather than in the few event-loop turns it spins first), it waits until
 * /proc/self/fdinfo shows the socket armed in fdpass's epoll set. No test
 * measures time: the timeouts below only turn a hang into a failure.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import {
  inodeOf,
  noLeak,
  openFds,
  RUNTIME,
  skipUnderQemu,
} from "./_helpers.ts";
import {
  armed,
  closeAll,
  duplicate,
  epollEntries,
  EPOLLIN,
  EPOLLOUT,
  isReactorEntry,
  leftReactor,
  POLL_BACKEND,
  pollEntries,
  reactorArming,
  rejection,
  track,
  turns,
  waitFor,
  within,
} from "./peers/async_support.ts";
import {
  ClosedError,
  ControlMessageError,
  type OwnedFd,
  pipe,
  type ReceiveResult,
  type SocketKind,
  socketPair,
  SystemError,
  type UnixSocket,
} from "../mod.ts";
import { libc } from "../_system.ts";

const KINDS: readonly SocketKind[] = ["stream", "dgram", "seqpacket"];
const MESSAGE_KINDS: readonly SocketKind[] = ["dgram", "seqpacket"];
const LONG = { timeout: 120_000 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string): Uint8Array => encoder.encode(s);
const read = (buffer: Uint8Array, r: ReceiveResult): string =>
  decoder.decode(buffer.subarray(0, r.bytes));

/** Sends nonblocking until the kernel says EAGAIN; returns the bytes queued. */
function fill(socket: UnixSocket, chunk: number): number {
  const data = new Uint8Array(chunk).fill(0xee);
  let total = 0;
  for (;;) {
    try {
      total += socket.sendSync(data, [], { nonblocking: true });
    } catch (error) {
      if (error instanceof SystemError && error.code === "EAGAIN") return total;
      throw error;
    }
  }
}

/** A message's index, for tests that send many. */
function indexed(i: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, i, true);
  return bytes;
}

for (const kind of KINDS) {
  test(
    `receive() waits for data sent later, with an fd that is the same open file (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        try {
          const first = new Uint8Array(3);
          const second = new Uint8Array(13);
          const pending = track(b.receive([first, second], { maxFds: 4 }));
          await armed(b.fd);
          assert.equal(
            pending.settled,
            false,
            "receive resolved with nothing sent",
          );

          assert.equal(await a.send(text("hello, async"), [w]), 12);
          const got = await within(pending.promise, "receive");
          assert.equal(got.bytes, 12);
          assert.equal(got.truncated, false);
          assert.equal(got.eof, false);
          assert.equal(
            decoder.decode(first) + decoder.decode(second.subarray(0, 9)),
            "hello, async",
          );
          assert.equal(got.fds.length, 1);
          const [received] = got.fds as [OwnedFd];
          assert.notEqual(received.fd, w.fd);
          assert.equal(inodeOf(received.fd), inodeOf(w.fd));
          received.writeSync(text("through"));
          received.close();
          const out = new Uint8Array(16);
          assert.equal(
            decoder.decode(out.subarray(0, r.readSync(out))),
            "through",
          );
        } finally {
          closeAll(a, b, r, w);
        }
      });
    },
  );

  test(
    `send() resolves with the byte count and a receive of queued data resolves without waiting (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        try {
          assert.equal(await a.send([text("ab"), text("cde")]), 5);
          const buffer = new Uint8Array(8);
          const got = await b.receive(buffer);
          assert.equal(read(buffer, got), "abcde");
          assert.deepEqual(got.fds, []);
          // The sync API keeps working beside the async one.
          b.sendSync(text("back"));
          const back = new Uint8Array(8);
          assert.equal(read(back, await a.receive(back)), "back");
        } finally {
          closeAll(a, b);
        }
      });
    },
  );
}

for (const kind of MESSAGE_KINDS) {
  test(
    `send() of fds with no data arrives as one empty message with the fds (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        try {
          const pending = b.receive(new Uint8Array(8));
          assert.equal(await a.send(new Uint8Array(0), [r, w]), 0);
          const got = await within(pending, "receive");
          assert.equal(got.bytes, 0);
          assert.equal(got.eof, false);
          assert.deepEqual(got.fds.map((fd) => inodeOf(fd.fd)), [
            inodeOf(r.fd),
            inodeOf(w.fd),
          ]);
          closeAll(...got.fds);
        } finally {
          closeAll(a, b, r, w);
        }
      });
    },
  );
}

test(
  `send() on a stream socket rejects fds with no data before sending anything (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const [r, w] = pipe();
      try {
        const error = await rejection(a.send(new Uint8Array(0), [r]), "send");
        assert.ok(error instanceof RangeError, String(error));
        assert.throws(
          () => b.receiveSync(new Uint8Array(1), { nonblocking: true }),
          (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
        );
      } finally {
        closeAll(a, b, r, w);
      }
    });
  },
);

for (const kind of ["stream", "seqpacket"] as const) {
  test(
    `a pending receive() resolves with eof when the peer closes (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        try {
          const pending = b.receive(new Uint8Array(8));
          await armed(b.fd);
          a.close();
          const got = await within(pending, "receive");
          assert.deepEqual(
            { bytes: got.bytes, eof: got.eof, fds: got.fds.length },
            { bytes: 0, eof: true, fds: 0 },
          );
        } finally {
          closeAll(a, b);
        }
      });
    },
  );
}

test(
  `receive() rejects with ControlMessageError and closes the fds beyond maxFds; the next receive works (${RUNTIME})`,
  {
    ...LONG,
    skip: skipUnderQemu(
      "receive() with more fds than maxFds",
      "it does not report MSG_CTRUNC; fds beyond the control buffer stay open",
    ),
  },
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("seqpacket");
      const [r, w] = pipe();
      try {
        // 3 fds for 2 slots: the control buffer holds exactly 2 on 64-bit
        // Linux (an odd maxFds would round up to the next 8-byte boundary).
        const pending = b.receive(new Uint8Array(8), { maxFds: 2 });
        await armed(b.fd);
        await a.send(text("three"), [r, w, r]);
        const error = await rejection(pending, "receive");
        assert.ok(error instanceof ControlMessageError, String(error));
        assert.equal(error.code, "ERR_CONTROL_TRUNCATED");
        assert.equal(error.closedFds, 2);
        const next = b.receive(new Uint8Array(8));
        await a.send(text("ok"));
        assert.equal((await within(next, "receive")).bytes, 2);
      } finally {
        closeAll(a, b, r, w);
      }
    });
  },
);

test(
  `send() of a buffer larger than the socket buffer stays pending until the peer drains, then resolves with every byte; the fds arrive once, with the first bytes (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const [r, w] = pipe();
      try {
        const size = 4 << 20; // far beyond any default socket buffer
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 13)) & 0xff;
        const sending = track(a.send(data, [r, w]));
        await armed(a.fd, EPOLLOUT);
        await turns(5);
        assert.equal(
          sending.settled,
          false,
          "send resolved before the peer read",
        );

        const received = new Uint8Array(size);
        const deliveries: { at: number; fds: OwnedFd[] }[] = [];
        let at = 0;
        while (at < size) {
          const got = await within(
            b.receive(received.subarray(at, Math.min(size, at + 65536))),
            "receive",
          );
          assert.ok(got.bytes > 0, "unexpected end of stream");
          if (got.fds.length > 0) deliveries.push({ at, fds: got.fds });
          at += got.bytes;
        }
        assert.equal(await within(sending.promise, "send"), size);
        assert.ok(
          received.every((byte, i) => byte === data[i]),
          "data differs",
        );
        assert.equal(deliveries.length, 1, "the fds came more than once");
        const [delivery] = deliveries as [{ at: number; fds: OwnedFd[] }];
        assert.equal(
          delivery.at,
          0,
          "the fds did not come with the first bytes",
        );
        assert.deepEqual(delivery.fds.map((fd) => inodeOf(fd.fd)), [
          inodeOf(r.fd),
          inodeOf(w.fd),
        ]);
        closeAll(...delivery.fds);
        // Nothing else is queued: no second copy of the fds either.
        assert.throws(
          () => b.receiveSync(new Uint8Array(1), { nonblocking: true }),
          (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
        );
      } finally {
        closeAll(a, b, r, w);
      }
    });
  },
);

test(
  `concurrent send() calls on a stream socket write in call order, each fd arriving with its own send's first byte (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const pipes = [pipe(), pipe(), pipe()];
      try {
        const size = 300_000;
        const parts = pipes.map((_, k) => new Uint8Array(size).fill(k + 1));
        const offsets = parts.map((_, k) => k * size);
        const sends = parts.map((part, k) => a.send(part, [pipes[k]![1]]));
        const total = size * parts.length;
        const received = new Uint8Array(total);
        const arrivals: { from: number; to: number; inodes: string[] }[] = [];
        let at = 0;
        while (at < total) {
          const got = await within(
            b.receive(received.subarray(at, Math.min(total, at + 100_000))),
            "receive",
          );
          assert.ok(got.bytes > 0, "unexpected end of stream");
          if (got.fds.length > 0) {
            arrivals.push({
              from: at,
              to: at + got.bytes,
              inodes: got.fds.map((fd) => inodeOf(fd.fd)),
            });
            closeAll(...got.fds);
          }
          at += got.bytes;
        }
        assert.deepEqual(await within(Promise.all(sends), "sends"), [
          size,
          size,
          size,
        ]);
        for (let k = 0; k < parts.length; k++) {
          const slice = received.subarray(offsets[k]!, offsets[k]! + size);
          assert.ok(slice.every((x) => x === k + 1), `send ${k} out of order`);
        }
        assert.equal(arrivals.length, 3, JSON.stringify(arrivals));
        for (let k = 0; k < parts.length; k++) {
          const arrival = arrivals[k]!;
          assert.deepEqual(arrival.inodes, [inodeOf(pipes[k]![1].fd)]);
          assert.ok(
            arrival.from <= offsets[k]! && offsets[k]! < arrival.to,
            `fd of send ${k} came with bytes ${arrival.from}..${arrival.to}`,
          );
        }
      } finally {
        closeAll(a, b, ...pipes.flat());
      }
    });
  },
);

for (const kind of MESSAGE_KINDS) {
  test(
    `concurrent receive() calls get messages in call order (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        try {
          const buffers = Array.from({ length: 5 }, () => new Uint8Array(8));
          const receives = buffers.map((buffer) => b.receive(buffer));
          await armed(b.fd);
          for (let i = 0; i < 5; i++) a.sendSync(text(`m${i}`));
          const results = await within(Promise.all(receives), "receives");
          assert.deepEqual(
            results.map((r, i) => read(buffers[i]!, r)),
            ["m0", "m1", "m2", "m3", "m4"],
          );
        } finally {
          closeAll(a, b);
        }
      });
    },
  );

  test(
    `send() waits while the peer's queue is full and queued sends arrive in call order (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        try {
          const filler = fill(a, 1024);
          const fillers = filler / 1024;
          const sends = [0, 1, 2, 3, 4].map((i) =>
            track(a.send(text(`s${i}`)))
          );
          await armed(a.fd, EPOLLOUT);
          await turns(5);
          assert.ok(
            sends.every((s) => !s.settled),
            "a send resolved while full",
          );
          const buffer = new Uint8Array(2048);
          for (let i = 0; i < fillers; i++) {
            const got = await within(b.receive(buffer), "receive");
            assert.equal(got.bytes, 1024);
          }
          const tail: string[] = [];
          for (let i = 0; i < 5; i++) {
            tail.push(read(buffer, await within(b.receive(buffer), "receive")));
          }
          assert.deepEqual(tail, ["s0", "s1", "s2", "s3", "s4"]);
          assert.deepEqual(
            await within(Promise.all(sends.map((s) => s.promise)), "sends"),
            [2, 2, 2, 2, 2],
          );
        } finally {
          closeAll(a, b);
        }
      });
    },
  );
}

test(
  `an already-aborted signal rejects receive() and send() with its reason and consumes nothing (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("seqpacket");
      const [r, w] = pipe();
      try {
        const reason = new Error("stop before starting");
        const signal = AbortSignal.abort(reason);
        a.sendSync(text("kept"), [r]);
        const buffer = new Uint8Array(8);
        assert.equal(
          await rejection(b.receive(buffer, { signal }), "receive"),
          reason,
        );
        assert.equal(
          await rejection(a.send(text("x"), [w], { signal }), "send"),
          reason,
        );
        // The queued message and its fd are still there, and nothing more.
        const got = b.receiveSync(buffer, { nonblocking: true });
        assert.equal(read(buffer, got), "kept");
        assert.deepEqual(got.fds.map((fd) => inodeOf(fd.fd)), [inodeOf(r.fd)]);
        closeAll(...got.fds);
        assert.throws(
          () => b.receiveSync(buffer, { nonblocking: true }),
          (e: unknown) => e instanceof SystemError && e.code === "EAGAIN",
        );
      } finally {
        closeAll(a, b, r, w);
      }
    });
  },
);

test(
  `aborting a receive() that just started (still spinning) rejects with the reason; a later receive gets the message (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      try {
        const controller = new AbortController();
        const pending = b.receive(new Uint8Array(8), {
          signal: controller.signal,
        });
        controller.abort("early");
        assert.equal(await rejection(pending, "receive"), "early");
        const buffer = new Uint8Array(8);
        const next = b.receive(buffer);
        a.sendSync(text("after"));
        assert.equal(read(buffer, await within(next, "receive")), "after");
      } finally {
        closeAll(a, b);
      }
    });
  },
);

for (const kind of KINDS) {
  test(
    `aborting a receive() waiting in the reactor rejects with the reason; a later receive gets the message and its fd (${kind}, ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        try {
          const controller = new AbortController();
          const reason = new DOMException("no longer wanted", "AbortError");
          const pending = b.receive(new Uint8Array(8), {
            signal: controller.signal,
          });
          await armed(b.fd);
          controller.abort(reason);
          assert.equal(await rejection(pending, "receive"), reason);
          // Waiting again after an abort works, and the aborted call took nothing.
          const buffer = new Uint8Array(8);
          const next = b.receive(buffer);
          await armed(b.fd);
          await a.send(text("later"), [r]);
          const got = await within(next, "receive");
          assert.equal(read(buffer, got), "later");
          assert.deepEqual(got.fds.map((fd) => inodeOf(fd.fd)), [
            inodeOf(r.fd),
          ]);
          closeAll(...got.fds);
        } finally {
          closeAll(a, b, r, w);
        }
      });
    },
  );
}

test(
  `aborting a receive() in the reactor and closing its socket in the same turn leaves no blocking call behind: the next socket's receive is served at once (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      const controller = new AbortController();
      const pending = b.receive(new Uint8Array(8), {
        signal: controller.signal,
      });
      await armed(b.fd);
      controller.abort("gone");
      closeAll(a, b); // the last registered fd: the reactor closes too
      assert.equal(await rejection(pending, "receive"), "gone");
      // A blocking call left running on the closed reactor's (empty) set
      // would hold the next wait until its bound (1 s in Deno, 10 s in Bun).
      const [c, d] = socketPair();
      try {
        const buffer = new Uint8Array(8);
        const next = d.receive(buffer);
        await armed(d.fd);
        c.sendSync(text("next"));
        const got = await within(next, "the next receive", 800);
        assert.equal(read(buffer, got), "next");
      } finally {
        closeAll(c, d);
      }
    });
  },
);

test(
  `aborting a receive() queued behind another rejects it alone; the others get messages in call order (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("seqpacket");
      try {
        const controller = new AbortController();
        const buffers = [
          new Uint8Array(8),
          new Uint8Array(8),
          new Uint8Array(8),
        ];
        const first = b.receive(buffers[0]!);
        const second = b.receive(buffers[1]!, { signal: controller.signal });
        const third = b.receive(buffers[2]!);
        await armed(b.fd);
        controller.abort("queued");
        assert.equal(await rejection(second, "second receive"), "queued");
        a.sendSync(text("one"));
        a.sendSync(text("two"));
        assert.equal(read(buffers[0]!, await within(first, "first")), "one");
        assert.equal(read(buffers[2]!, await within(third, "third")), "two");
      } finally {
        closeAll(a, b);
      }
    });
  },
);

test(
  `aborting a send() waiting for room rejects with the reason and sends neither its bytes nor its fds (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const [r, w] = pipe();
      try {
        const filled = fill(a, 65536);
        const controller = new AbortController();
        const sending = a.send(text("never"), [r], {
          signal: controller.signal,
        });
        await armed(a.fd, EPOLLOUT);
        controller.abort("full");
        assert.equal(await rejection(sending, "send"), "full");
        a.shutdown("write");
        const buffer = new Uint8Array(65536);
        let total = 0;
        for (;;) {
          const got = await within(b.receive(buffer), "receive");
          assert.deepEqual(got.fds, [], "the aborted send's fd arrived");
          if (got.eof) break;
          assert.ok(buffer.subarray(0, got.bytes).every((x) => x === 0xee));
          total += got.bytes;
        }
        assert.equal(total, filled);
      } finally {
        closeAll(a, b, r, w);
      }
    });
  },
);

test(
  `aborting a stream send() after its first bytes went out lets it complete, as documented (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      try {
        const size = 2 << 20;
        const controller = new AbortController();
        const sending = a.send(new Uint8Array(size).fill(3), [], {
          signal: controller.signal,
        });
        controller.abort("too late");
        const buffer = new Uint8Array(65536);
        let total = 0;
        while (total < size) {
          total += (await within(b.receive(buffer), "receive")).bytes;
        }
        assert.equal(total, size);
        assert.equal(await within(sending, "send"), size);
      } finally {
        closeAll(a, b);
      }
    });
  },
);

test(
  `close() rejects every pending and queued operation with ClosedError and removes the fd from the reactor, even while another descriptor keeps the socket open (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const extra = duplicate(b.fd);
      try {
        fill(b, 65536);
        const receiving = b.receive(new Uint8Array(8));
        const queued = b.receive(new Uint8Array(8));
        const sending = b.send(text("stuck"));
        const queuedSend = b.send(text("stuck too"));
        const fd = b.fd;
        const epfd = await armed(fd, EPOLLIN);
        await armed(fd, EPOLLOUT);
        b.close();
        // Handled at once: waiting for the fd to leave the reactor may take
        // event-loop turns (the poll backend's thread), and Deno reports a
        // rejection still unhandled after one.
        const outcomes = ([
          ["receive", receiving],
          ["queued receive", queued],
          ["send", sending],
          ["queued send", queuedSend],
        ] as const).map(([name, p]) => [name, rejection(p, name)] as const);
        await leftReactor(fd, epfd, "the closed fd");
        for (const [name, outcome] of outcomes) {
          const error = await outcome;
          assert.ok(error instanceof ClosedError, `${name}: ${String(error)}`);
          assert.equal(error.code, "ERR_CLOSED");
        }
        const after = await rejection(b.receive(new Uint8Array(1)), "receive");
        assert.ok(after instanceof ClosedError);
      } finally {
        closeAll(a, b, extra);
      }
    });
  },
);

test(
  `a descriptor number swapped behind fdpass's back while both directions wait fails its waiters with a SystemError; the reactor goes on serving others (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("stream");
      const [c, d] = socketPair("dgram");
      // Keeps b's socket open once its number holds something else, so the
      // kernel keeps reporting it under that number (epoll) while re-arming
      // the number fails: it no longer names the socket.
      const extra = duplicate(b.fd);
      const lib = libc();
      const devNull = openSync("/dev/null", "r");
      try {
        fill(b, 65536);
        const receiving = b.receive(new Uint8Array(8));
        const sending = b.send(text("stuck"));
        await armed(b.fd, EPOLLIN);
        await armed(b.fd, EPOLLOUT);
        assert.equal(lib.dup2(devNull, b.fd), b.fd);
        // The read side becomes ready; the write side still waits and must
        // be armed again, on a number that is now /dev/null.
        a.sendSync(text("x"));
        const outcomes = [
          rejection(receiving, "receive"),
          rejection(sending, "send"),
        ];
        for (const outcome of outcomes) {
          const error = await outcome;
          assert.ok(error instanceof SystemError, String(error));
        }
        // The reactor still serves every other socket.
        const buffer = new Uint8Array(4);
        const later = d.receive(buffer);
        await armed(d.fd, EPOLLIN);
        c.sendSync(text("next"));
        const r = await within(later, "a receive after the failure");
        assert.equal(read(buffer, r), "next");
      } finally {
        closeSync(devNull);
        closeAll(a, b, c, d, extra);
      }
    });
  },
);

/** `fd`'s open flags (`O_ACCMODE` in the low bits), or -1 once it is gone. */
function openFlags(fd: number): number {
  try {
    const text = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    return parseInt(/^flags:\s+([0-7]+)/m.exec(text)![1]!, 8);
  } catch {
    return -1;
  }
}

/**
 * The ends of the reactor's wake pipe, once a thread is blocked in a
 * poll(2) that watches it: the pipe in that set whose write end is open in
 * this process too (the runtime's own pipes, and stdio, do not qualify).
 */
function wakePipe(): Promise<{ read: number; write: number }> {
  return waitFor("the reactor's wake pipe in a blocked poll(2)", () => {
    const fds = openFds();
    for (const entry of pollEntries("self")) {
      const target = fds.get(entry.fd);
      if (target === undefined || !target.startsWith("pipe:")) continue;
      if (openFlags(entry.fd) & 3) continue; // not O_RDONLY
      const writers = [...fds].filter(([fd, t]) =>
        t === target && fd !== entry.fd && (openFlags(fd) & 3) === 1
      );
      if (writers.length === 1) {
        return { read: entry.fd, write: writers[0]![0] };
      }
    }
    return undefined;
  });
}

const OWN = [
  ["its wake pipe", "wake pipe's read end"],
  ["its wake pipe", "wake pipe's write end"],
  ["its epoll descriptor", "epoll descriptor"],
] as const;

for (const [role, own] of OWN) {
  test(
    `the reactor's ${own} closed behind its back fails the waiting calls with EBADF instead of polling forever; the next wait opens a new reactor (${RUNTIME})`,
    {
      ...LONG,
      skip: own === "epoll descriptor" && POLL_BACKEND
        ? "the poll backend has no epoll descriptor"
        : skipUnderQemu(
          `the reactor's ${own} closed behind its back`,
          "the test finds the helper thread's poll(2) set through /proc, which under qemu-user shows the host's syscalls, not aarch64's",
        ),
    },
    async () => {
      const lib = libc();
      let leftOpen: number[] = [];
      await noLeak(async () => {
        const [a, b] = socketPair("stream");
        const [c, d] = socketPair("dgram");
        try {
          const receiving = b.receive(new Uint8Array(8));
          const epfd = await armed(b.fd);
          const wake = await wakePipe();
          // Read end: the number the reactor polls (it must not be polled
          // forever once closed); write end: the read end hangs up at once.
          const number = own === "epoll descriptor"
            ? epfd
            : own === "wake pipe's read end"
            ? wake.read
            : wake.write;
          // What code that closes numbers it does not own would do.
          assert.equal(lib.close(number), 0);
          // The poll in flight holds its own reference to each file, so it
          // goes on; data for b ends it, and the number is then gone.
          a.sendSync(text("x"));
          const error = await rejection(receiving, "receive");
          assert.ok(error instanceof SystemError, String(error));
          assert.equal(error.code, "EBADF");
          const reported = own === "epoll descriptor" ? epfd : wake.read;
          assert.match(
            error.message,
            new RegExp(`the reactor's fd ${reported} \\(${role}\\)`),
          );
          // The reactor left its other descriptors alone (the code that
          // closed one may have closed them all): the test closes them.
          leftOpen = (POLL_BACKEND ? [wake.read, wake.write] : [
            epfd,
            wake.read,
            wake.write,
          ]).filter((fd) => fd !== number);
          for (const fd of leftOpen) assert.ok(openFlags(fd) >= 0, `${fd}`);
          for (const fd of leftOpen) assert.equal(lib.close(fd), 0);
          leftOpen = [];
          // A new reactor serves the next wait.
          const buffer = new Uint8Array(4);
          const later = d.receive(buffer);
          await armed(d.fd);
          c.sendSync(text("next"));
          const r = await within(later, "a receive after the failure");
          assert.equal(read(buffer, r), "next");
        } finally {
          for (const fd of leftOpen) lib.close(fd);
          closeAll(a, b, c, d);
        }
      });
    },
  );
}

test(
  `close() right after receive() (before it reaches the reactor) rejects it with ClosedError (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("dgram");
      try {
        const pending = b.receive(new Uint8Array(8));
        b.close();
        assert.ok((await rejection(pending, "receive")) instanceof ClosedError);
      } finally {
        closeAll(a, b);
      }
    });
  },
);

test(
  `a socket that reuses a closed socket's fd number gets a new registration and wakes only for its own data (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair("seqpacket");
      const spare: UnixSocket[] = [];
      const open: UnixSocket[] = [a, b];
      try {
        const old = b.fd;
        const stale = b.receive(new Uint8Array(8));
        const epfd = await armed(old);
        const before = epollEntries("self", epfd).find((e) => e.fd === old)!;
        // Make the old registration fire, then close: an event the reactor
        // harvests from here on belongs to a socket that no longer exists.
        a.sendSync(text("old"));
        b.close();
        let receiver: UnixSocket | undefined;
        let sender: UnixSocket | undefined;
        for (let i = 0; i < 64 && receiver === undefined; i++) {
          const [x, y] = socketPair("seqpacket");
          open.push(x, y);
          if (x.fd === old) [receiver, sender] = [x, y];
          else if (y.fd === old) [receiver, sender] = [y, x];
          else spare.push(x, y);
        }
        assert.ok(receiver && sender, `fd ${old} was not reused`);
        closeAll(...spare);
        const buffer = new Uint8Array(8);
        const fresh = track(receiver.receive(buffer));
        assert.ok(
          (await rejection(stale, "stale receive")) instanceof ClosedError,
        );
        const epfdNow = await armed(old);
        const now = epollEntries("self", epfdNow).find((e) => e.fd === old)!;
        // poll has no generations in the kernel: only the behaviour below
        // shows the new registration there.
        if (!POLL_BACKEND) {
          assert.notEqual(
            now.data >> 32n,
            before.data >> 32n,
            "same generation",
          );
        }
        await turns(5);
        assert.equal(fresh.settled, false, "the new socket woke with no data");
        sender.sendSync(text("new"));
        assert.equal(
          read(buffer, await within(fresh.promise, "receive")),
          "new",
        );
      } finally {
        closeAll(...open);
      }
    });
  },
);

test(
  `on the main thread the reactor's descriptors outlive the close() of the last waiting socket by one turn, and then close (${RUNTIME})`,
  {
    ...LONG,
    skip: POLL_BACKEND ? "the poll backend has no epoll descriptor" : false,
  },
  async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      const pending = b.receive(new Uint8Array(1));
      const epfd = await armed(b.fd);
      const reactor = inodeOf(epfd);
      b.close();
      // Closing it would have woken the other thread before close() returned.
      assert.equal(inodeOf(epfd), reactor, "closed within close()");
      assert.ok((await rejection(pending, "receive")) instanceof ClosedError);
      await waitFor(
        "the reactor's epoll descriptor to close",
        () => openFds().get(epfd) === reactor ? undefined : true,
      );
      a.close();
    });
  },
);

/**
 * A new pipe, and a blocking call (the reactor's, by hand) that polls its
 * read end for input: `revents` reads the answer once the call resolves.
 */
function pollOnPipe(): {
  readEnd: number;
  writeEnd: number;
  call: Promise<number>;
  revents: () => number;
} {
  const lib = libc();
  const p = lib.platform.pollfd;
  const ends = new Int32Array(2);
  assert.equal(lib.pipe(ends, lib.platform.constants.O_CLOEXEC), 0);
  const [readEnd, writeEnd] = [ends[0]!, ends[1]!];
  const fds = new Uint8Array(p.size);
  const view = new DataView(fds.buffer);
  view.setInt32(p.fd, readEnd, true);
  view.setInt16(p.events, p.POLLIN, true);
  const call = lib.blocking().poll(fds, 1);
  return {
    readEnd,
    writeEnd,
    call,
    revents: () => view.getInt16(p.revents, true),
  };
}

test(
  `a blocking call whose descriptors close before the helper takes it never watches the numbers' next owners (${RUNTIME})`,
  LONG,
  async () => {
    // The reactor closes its descriptors at once, even with a call in
    // flight: it closes the wake pipe's write end, then the read end with
    // closeAfterCall(). Here a socket takes the read end's number at once,
    // before the other thread has (most likely) even seen the call. Bun's
    // helper must then skip the call (one it took keeps the number until
    // its poll returns, and closes it then: see the next test); a poll(2) that
    // read the socket would hold it for the whole bound (ten seconds), and
    // the socket's peer would not see it close. Deno's pool thread cannot
    // be asked: on the main thread the number stays taken until the call
    // returns, so no socket can get it (in a Worker, the bound of a second
    // is all there is).
    await noLeak(async () => {
      const lib = libc();
      const calls = lib.blocking();
      // A round where the helper took the call first (the number then
      // closes after it, and the socket gets another) asks nothing: it is
      // counted apart, and at least one round in fifty must ask.
      let asked = 0;
      for (let round = 0; round < 50 && asked < 5; round++) {
        const { readEnd, writeEnd, call } = pollOnPipe();
        lib.close(writeEnd);
        calls.closeAfterCall(readEnd);
        const open = socketPair("stream");
        try {
          if (!open.some((s) => s.fd === readEnd)) {
            await within(call, `round ${round}: the call`, 3000);
            continue;
          }
          asked++;
          await within(call, `round ${round}: the call`, 3000);
          const [x, y] = open;
          const peer = x.fd === readEnd ? y! : x!;
          open.find((s) => s !== peer)!.close();
          // Nothing else holds the closed socket: its peer sees the end.
          const r = await within(peer.receive(new Uint8Array(1)), "end", 3000);
          assert.equal(r.bytes, 0);
        } finally {
          closeAll(...open);
        }
      }
      if (RUNTIME === "bun") {
        assert.ok(asked > 0, "the helper took every call before its close");
      } else {
        assert.equal(asked, 0, "a socket took the number of a call in flight");
      }
    });
  },
);

test(
  `closeAfterCall() on a call in flight leaves the read end open until its poll returns, then closes it: the caller never waits for the other thread (${RUNTIME})`,
  LONG,
  async () => {
    await noLeak(async () => {
      const lib = libc();
      const p = lib.platform.pollfd;
      const calls = lib.blocking();
      // A round where Bun's helper had not taken the call yet (a busy
      // machine) cancels it and closes at once: counted apart. Deno's pool
      // thread cannot be asked, so there every round keeps the number.
      let taken = 0;
      for (let round = 0; round < 20 && taken < 3; round++) {
        const { readEnd, writeEnd, call, revents } = pollOnPipe();
        const answer = track(call);
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (answer.settled) {
          // A stall past the call's bound (Deno: a second): nothing to ask.
          lib.close(writeEnd);
          lib.close(readEnd);
          continue;
        }
        const pipeEnd = inodeOf(readEnd);
        // The write end is still open: a poll that took the call goes on
        // watching the pipe, and its read end must stay where it is.
        calls.closeAfterCall(readEnd);
        const still = openFds().get(readEnd);
        lib.close(writeEnd);
        if (still === undefined && RUNTIME === "bun") {
          assert.equal(await within(call, "the cancelled call", 3000), -1);
          continue;
        }
        taken++;
        assert.equal(still, pipeEnd, "the read end's number was reused");
        assert.equal(await within(call, "the call", 3000), 1);
        assert.equal(revents() & p.POLLHUP, p.POLLHUP);
        // Closed by the time the answer is seen (Bun: by the helper, before
        // it answered; Deno: as the call settled).
        assert.notEqual(
          openFds().get(readEnd),
          pipeEnd,
          "the read end stayed open after the call",
        );
      }
      assert.ok(taken > 0, "the helper took no call within 50 ms");
    });
  },
);

function openFileLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
}

const PAIRS = 500; // both ends wait: 1,000 sockets, 1,000 fds
const limit = openFileLimit();

test(
  `1,000 sockets await receive() at once on one reactor; every one resolves with its own message and none stays registered (${RUNTIME})`,
  {
    // Generous: on a contended CPU, 1,000 operations spinning (each turn a
    // sched_yield) before they arm the reactor took up to 30 s here.
    timeout: 400_000,
    skip: limit < 2 * PAIRS + 200
      ? `the open-file limit (${limit}) is below ${2 * PAIRS + 200}`
      : false,
  },
  async () => {
    await noLeak(async () => {
      const pairs: [UnixSocket, UnixSocket][] = [];
      try {
        for (let i = 0; i < PAIRS; i++) pairs.push(socketPair(KINDS[i % 3]!));
        const sockets = pairs.flat();
        const buffers = sockets.map(() => new Uint8Array(8));
        const receives = sockets.map((s, i) => track(s.receive(buffers[i]!)));
        const fds = new Set(sockets.map((s) => s.fd));
        const epfd = await waitFor(
          "1,000 sockets armed in one epoll set",
          () => {
            const epfd = reactorArming("self", sockets[0]!.fd, EPOLLIN);
            if (epfd === undefined) return undefined;
            const armedHere = epollEntries("self", epfd).filter((e) =>
              isReactorEntry(e) && (e.events & EPOLLIN) !== 0 && fds.has(e.fd)
            );
            return armedHere.length === fds.size ? epfd : undefined;
          },
          240_000,
        );
        assert.ok(receives.every((r) => !r.settled), "resolved with no data");
        // Each socket sends its peer the peer's index.
        await Promise.all(sockets.map((s, i) => s.send(indexed(i ^ 1))));
        const results = await within(
          Promise.all(receives.map((r) => r.promise)),
          "1,000 receives",
          120_000,
        );
        results.forEach((r, i) => {
          assert.equal(r.bytes, 4);
          assert.equal(new DataView(buffers[i]!.buffer).getUint32(0, true), i);
        });
        closeAll(...sockets);
        const left = epollEntries("self", epfd).filter((e) =>
          isReactorEntry(e) && fds.has(e.fd)
        );
        assert.deepEqual(left, [], "registrations left after close");
      } finally {
        closeAll(...pairs.flat());
      }
    });
  },
);
