/**
 * Datagram addressing: `sendSync`/`send` with `{ to }`, the sender's
 * address in `ReceiveResult.from`, and Linux autobind (`bind("")`,
 * `connect(path, { autobind: true })`) so that one bound server answers any
 * number of clients, descriptors included. Checked against CPython's
 * `socket.sendmsg`/`recvmsg` and Ruby's `Socket#sendmsg`/`recvmsg` with
 * addresses, as real peers.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bind,
  ClosedError,
  connect,
  pipe,
  type ReceiveResult,
  socketPair,
  type UnixSocket,
} from "../mod.ts";
import {
  DARWIN_AARCH64,
  encodeAutobind,
  FREEBSD_X86_64,
  LINUX_AARCH64,
  LINUX_X86_64,
} from "../platform/mod.ts";
import {
  abstractName,
  available,
  inodeOf,
  noLeak,
  ROOT,
  rubyMissing,
  run,
  RUNTIME,
} from "./_helpers.ts";
import { readAll } from "./peers/sync_channel.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SLOW = { timeout: 300_000 };
/** What Linux autobind names a socket: a NUL and five hex digits. */
const AUTOBOUND = /^\0[0-9a-f]{5}$/;

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A fresh directory for socket files, removed by the caller. */
function socketDirectory(): string {
  return mkdtempSync(join(tmpdir(), "fdpass-dgram-"));
}

/**
 * A message already queued on `socket` (sync: a nonblocking receive, so a
 * message sent elsewhere fails the test instead of hanging it).
 */
function queued(
  socket: UnixSocket,
  buffer: Uint8Array,
  mode: "sync" | "async",
): ReceiveResult | Promise<ReceiveResult> {
  return mode === "sync"
    ? socket.receiveSync(buffer, { nonblocking: true })
    : socket.receive(buffer, { signal: AbortSignal.timeout(60_000) });
}

/** Asserts nothing is queued on `socket`. */
function assertEmpty(socket: UnixSocket): void {
  assert.throws(
    () => socket.receiveSync(new Uint8Array(8), { nonblocking: true }),
    { code: "EAGAIN" },
  );
}

describe(`datagram addressing (${RUNTIME})`, () => {
  for (const mode of ["sync", "async"] as const) {
    test(
      `a bound server answers several autobound clients at their from, with descriptors both ways (${mode})`,
      async () => {
        const directory = socketDirectory();
        try {
          await noLeak(async () => {
            const path = join(directory, "server.sock");
            using server = bind(path);
            // Two ways to an address of one's own: bind("") and connect's
            // autobind (which also sets the default destination).
            const clients = [
              bind(""),
              bind(""),
              connect(path, { kind: "dgram", autobind: true }),
              connect(path, { kind: "dgram", autobind: true }),
            ];
            const pipes = clients.map(() => pipe());
            try {
              const names = clients.map((c) => c.localAddress());
              for (const name of names) assert.match(name, AUTOBOUND);
              assert.equal(new Set(names).size, clients.length);
              for (let i = 0; i < clients.length; i++) {
                const [r, w] = pipes[i]!;
                w.writeSync(bytes(`client ${i}`));
                const options = i < 2 ? { to: path } : {};
                if (mode === "sync") {
                  clients[i]!.sendSync(bytes(`${i}`), [r], options);
                } else await clients[i]!.send(bytes(`${i}`), [r], options);
              }
              for (const [, w] of pipes) w.close();
              const buffer = new Uint8Array(16);
              for (let n = 0; n < clients.length; n++) {
                const got = await queued(server, buffer, mode);
                const i = Number(decoder.decode(buffer.subarray(0, got.bytes)));
                assert.equal(got.from, names[i], `client ${i}'s address`);
                assert.equal(got.fds.length, 1);
                using fd = got.fds[0]!;
                assert.equal(inodeOf(fd.fd), inodeOf(pipes[i]![0].fd));
                // Answer with the client's own pipe: it must come back to it.
                const answer = bytes(`for ${i}`);
                if (mode === "sync") {
                  server.sendSync(answer, [fd], { to: got.from! });
                } else await server.send(answer, [fd], { to: got.from! });
              }
              for (let i = 0; i < clients.length; i++) {
                const got = await queued(clients[i]!, buffer, mode);
                assert.equal(
                  decoder.decode(buffer.subarray(0, got.bytes)),
                  `for ${i}`,
                );
                assert.equal(got.from, path);
                assert.equal(got.fds.length, 1);
                using fd = got.fds[0]!;
                assert.equal(readAll(fd), `client ${i}`);
                assertEmpty(clients[i]!);
              }
              assertEmpty(server);
            } finally {
              for (const c of clients) c.close();
              for (const [r, w] of pipes) {
                r.close();
                w.close();
              }
            }
          });
        } finally {
          rmSync(directory, { recursive: true, force: true });
        }
      },
    );
  }

  test('from is the sender\'s path, its abstract name, or "" when it is unnamed', async () => {
    const directory = socketDirectory();
    try {
      await noLeak(() => {
        const serverName = abstractName("from-server");
        using server = bind(serverName);
        const path = join(directory, "named.sock");
        const abstract = abstractName("from-client");
        using named = bind(path);
        using hidden = bind(abstract);
        using unnamed = connect(serverName, { kind: "dgram" });
        const buffer = new Uint8Array(8);
        named.sendSync(bytes("p"), [], { to: serverName });
        assert.equal(
          server.receiveSync(buffer, { nonblocking: true }).from,
          path,
        );
        hidden.sendSync(bytes("a"), [], { to: serverName });
        assert.equal(
          server.receiveSync(buffer, { nonblocking: true }).from,
          abstract,
        );
        // The same senders again, interleaved: each from is its own.
        for (
          const [sender, address] of [[named, path], [named, path], [
            hidden,
            abstract,
          ], [named, path]] as const
        ) {
          sender.sendSync(bytes("."), [], { to: serverName });
          assert.equal(
            server.receiveSync(buffer, { nonblocking: true }).from,
            address,
          );
        }
        assert.equal(unnamed.localAddress(), "");
        unnamed.sendSync(bytes("u"));
        const got = server.receiveSync(buffer, { nonblocking: true });
        assert.equal(got.from, "");
        assert.deepEqual(
          { bytes: got.bytes, fds: got.fds, truncated: got.truncated },
          { bytes: 1, fds: [], truncated: false },
        );
        // A socketpair end is unnamed too.
        const [a, b] = socketPair("dgram");
        try {
          a.sendSync(bytes("s"));
          assert.equal(b.receiveSync(buffer, { nonblocking: true }).from, "");
        } finally {
          a.close();
          b.close();
        }
      });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("from is absent on stream and seqpacket sockets, whose sender is the connected peer", async () => {
    await noLeak(() => {
      for (const kind of ["stream", "seqpacket"] as const) {
        const [a, b] = socketPair(kind);
        try {
          a.sendSync(bytes("x"));
          const got = b.receiveSync(new Uint8Array(4));
          assert.equal(got.bytes, 1);
          assert.equal("from" in got, false, kind);
        } finally {
          a.close();
          b.close();
        }
      }
    });
  });

  test("to overrides a connected socket's default destination for one send; the next goes to the peer again (Linux)", async () => {
    await noLeak(async () => {
      const defaultName = abstractName("default");
      const otherName = abstractName("other");
      using peer = bind(defaultName);
      using other = bind(otherName);
      using client = connect(defaultName, { kind: "dgram" });
      const [r, w] = pipe();
      try {
        const buffer = new Uint8Array(8);
        client.sendSync(bytes("1"), [r], { to: otherName });
        const got = await queued(other, buffer, "sync");
        assert.equal(got.bytes, 1);
        assert.equal(got.fds.length, 1);
        assert.equal(inodeOf(got.fds[0]!.fd), inodeOf(r.fd));
        got.fds[0]!.close();
        assertEmpty(peer);
        client.sendSync(bytes("2"));
        assert.equal((await queued(peer, buffer, "sync")).bytes, 1);
        assert.equal(buffer[0], "2".charCodeAt(0));
        await client.send(bytes("3"), [], { to: otherName });
        await client.send(bytes("4"));
        assert.equal((await queued(other, buffer, "async")).bytes, 1);
        assert.equal(buffer[0], "3".charCodeAt(0));
        assert.equal((await queued(peer, buffer, "async")).bytes, 1);
        assert.equal(buffer[0], "4".charCodeAt(0));
        assertEmpty(peer);
        assertEmpty(other);
      } finally {
        r.close();
        w.close();
      }
    });
  });

  test("a pending send keeps its own destination while sync sends go elsewhere", async () => {
    await noLeak(async () => {
      const fullName = abstractName("full");
      const otherName = abstractName("elsewhere");
      using full = bind(fullName);
      using other = bind(otherName);
      using client = connect(fullName, { kind: "dgram" });
      // Fill the receiver's queue so that the next send to it must wait.
      let filled = 0;
      for (;; filled++) {
        try {
          client.sendSync(bytes("f"), [], { nonblocking: true });
        } catch (error) {
          assert.equal((error as { code: string }).code, "EAGAIN");
          break;
        }
        assert.ok(filled < 100_000, "the queue never filled");
      }
      const pending = client.send(bytes("late"));
      // Sync sends to another socket go there while the first one waits.
      client.sendSync(bytes("x"), [], { to: otherName });
      client.sendSync(bytes("y"), [], { to: otherName });
      const buffer = new Uint8Array(8);
      for (let i = 0; i < filled; i++) {
        assert.equal((await queued(full, buffer, "async")).bytes, 1);
      }
      assert.equal(await pending, 4);
      const late = await queued(full, buffer, "async");
      assert.equal(decoder.decode(buffer.subarray(0, late.bytes)), "late");
      assert.equal(late.from, "");
      for (const expected of ["x", "y"]) {
        const got = await queued(other, buffer, "sync");
        assert.equal(decoder.decode(buffer.subarray(0, got.bytes)), expected);
      }
      assertEmpty(full);
      assertEmpty(other);
    });
  });

  test("sendFdSync() and sendFd() take a destination too", async () => {
    await noLeak(async () => {
      const name = abstractName("fd-server");
      using server = bind(name);
      using client = bind("");
      const [r, w] = pipe();
      try {
        client.sendFdSync(r, { to: name });
        const got = await queued(server, new Uint8Array(1), "sync");
        assert.equal(got.from, client.localAddress());
        using fd = got.fds[0]!;
        await server.sendFd(fd, { to: got.from! });
        using back = client.receiveFdSync({ nonblocking: true });
        assert.equal(inodeOf(back.fd), inodeOf(r.fd));
      } finally {
        r.close();
        w.close();
      }
    });
  });

  test('bind("") autobinds any socket kind; connect()\'s autobind must be a boolean', async () => {
    await noLeak(() => {
      for (const kind of ["dgram", "seqpacket", "stream"] as const) {
        using socket = bind("", { kind });
        assert.equal(socket.kind, kind);
        assert.match(socket.localAddress(), AUTOBOUND);
      }
      const name = abstractName("autobind-options");
      using _server = bind(name); // what the clients connect to
      for (const autobind of ["yes", 1, null]) {
        assert.throws(
          () =>
            connect(name, {
              kind: "dgram",
              autobind: autobind as unknown as boolean,
            }),
          TypeError,
        );
      }
      using plain = connect(name, { kind: "dgram", autobind: false });
      assert.equal(plain.localAddress(), "");
      // A failed connect closes the socket it autobound.
      assert.throws(
        () =>
          connect(abstractName("nobody"), { kind: "dgram", autobind: true }),
        { code: "ECONNREFUSED" },
      );
    });
  });
});

test("the autobind address is sun_family alone on Linux; macOS and FreeBSD have none (TypeError)", () => {
  for (const layout of [LINUX_X86_64, LINUX_AARCH64]) {
    const { bytes, length } = encodeAutobind(layout);
    assert.equal(length, 2);
    assert.deepEqual([...bytes], [1, ...new Array(bytes.length - 1).fill(0)]);
  }
  for (const layout of [DARWIN_AARCH64, FREEBSD_X86_64]) {
    assert.throws(() => encodeAutobind(layout), TypeError);
  }
});

describe(`a bad destination is refused before any call (${RUNTIME})`, () => {
  const cases: [string, unknown, typeof TypeError | typeof RangeError][] = [
    ["a number", 5, TypeError],
    ["a String object", new String("/tmp/x"), TypeError],
    ["an empty string", "", TypeError],
    ["a NUL inside a path", "/tmp/a\0b", TypeError],
    ["a lone surrogate", "/tmp/\ud800", TypeError],
    ["a path longer than sun_path", `/tmp/${"x".repeat(200)}`, RangeError],
    [
      "an abstract name longer than sun_path",
      `\0${"x".repeat(108)}`,
      RangeError,
    ],
  ];
  for (const [what, to, error] of cases) {
    test(`to: ${what} is a ${error.name}, and nothing is sent`, async () => {
      await noLeak(async () => {
        const [a, b] = socketPair("dgram");
        const [r, w] = pipe();
        try {
          const options = { to: to as string };
          assert.throws(() => a.sendSync(bytes("x"), [r], options), error);
          await assert.rejects(a.send(bytes("x"), [r], options), error);
          assert.throws(() => a.sendFdSync(r, options), error);
          assertEmpty(b);
          // Checked before the socket: a closed one still says what is wrong.
          a.close();
          assert.throws(() => a.sendSync(bytes("x"), [], options), error);
        } finally {
          for (const x of [a, b, r, w]) x.close();
        }
      });
    });
  }

  test("to on a stream or seqpacket socket is a TypeError (Linux would ignore it on seqpacket)", async () => {
    await noLeak(async () => {
      const name = abstractName("connected-kinds");
      using target = bind(name);
      for (const kind of ["stream", "seqpacket"] as const) {
        const [a, b] = socketPair(kind);
        try {
          assert.throws(
            () => a.sendSync(bytes("x"), [], { to: name }),
            TypeError,
          );
          await assert.rejects(a.send(bytes("x"), [], { to: name }), TypeError);
          assertEmpty(b);
        } finally {
          a.close();
          b.close();
        }
      }
      assertEmpty(target);
    });
  });

  test("to is read once, before the socket is checked", async () => {
    await noLeak(() => {
      const name = abstractName("getter");
      using target = bind(name);
      const [a, b] = socketPair("dgram");
      let reads = 0;
      const options = {
        get to(): string {
          reads++;
          return name;
        },
      };
      try {
        a.sendSync(bytes("g"), [], options);
        assert.equal(reads, 1);
        assert.equal(target.receiveSync(new Uint8Array(4)).bytes, 1);
        assertEmpty(b);
        a.close();
        assert.throws(() => a.sendSync(bytes("g"), [], options), ClosedError);
        assert.equal(reads, 2);
      } finally {
        a.close();
        b.close();
      }
    });
  });
});

interface PeerReport {
  own?: string;
  reply: string;
  replyFds: number;
  replyText: string;
  replyFrom: string;
  asker: string;
  askerFds: number;
}

/**
 * Plays the fdpass side against a peer program that (1) sends "hello" and
 * a pipe to `server` from its own address, (2) reads our answer to that
 * address, and (3) echoes a message and descriptor from our autobound
 * client back to the client's address from `own`.
 */
async function againstPeer(
  command: string,
  script: string,
  expectedFirst: string,
  expectedText: string,
  ownOf: (directory: string) => string,
): Promise<void> {
  const directory = socketDirectory();
  try {
    await noLeak(async () => {
      const path = join(directory, "fdpass.sock");
      const own = ownOf(directory);
      using server = bind(path);
      const peer = run(command, [join(ROOT, script), path, own], {
        timeoutMs: 120_000,
      });
      // A peer that fails ends the wait at once, with what it said.
      const failed = new AbortController();
      void peer.then((r) => {
        if (r.code !== 0) {
          failed.abort(new Error(`${command} failed (${r.code}): ${r.stderr}`));
        }
      });
      const signal = AbortSignal.any([
        failed.signal,
        AbortSignal.timeout(60_000),
      ]);
      const buffer = new Uint8Array(64);
      const first = await server.receive(buffer, { signal });
      assert.equal(
        decoder.decode(buffer.subarray(0, first.bytes)),
        expectedFirst,
      );
      assert.equal(first.fds.length, 1);
      using given = first.fds[0]!;
      assert.equal(readAll(given), expectedText);
      const from = first.from!;
      const [r, w] = pipe();
      const [r2, w2] = pipe();
      try {
        w.writeSync(bytes("from fdpass"));
        w.close();
        await server.send(bytes("answer"), [r], { to: from });
        r.close();
        using client = bind("");
        await client.send(bytes("ping"), [r2], { to: own });
        const echo = await client.receive(buffer, { signal });
        assert.equal(
          decoder.decode(buffer.subarray(0, echo.bytes)),
          "echo:ping",
        );
        assert.equal(echo.from, own);
        assert.equal(echo.fds.length, 1);
        using back = echo.fds[0]!;
        assert.equal(inodeOf(back.fd), inodeOf(r2.fd));
        const result = await peer;
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout) as PeerReport;
        if (report.own !== undefined) {
          assert.match(report.own, AUTOBOUND);
          assert.equal(from, report.own);
        } else assert.equal(from, own);
        assert.deepEqual(
          { ...report, own: undefined },
          {
            own: undefined,
            reply: "answer",
            replyFds: 1,
            replyText: "from fdpass",
            replyFrom: path,
            asker: client.localAddress(),
            askerFds: 1,
          },
        );
      } finally {
        for (const x of [r, w, r2, w2]) x.close();
      }
    });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

describe(`interop with real peers (${RUNTIME})`, () => {
  const python = available("python3", ["--version"])
    ? false
    : "python3 is not installed";
  if (python !== false) console.log(`skipped: ${python}`);

  test(
    "CPython: an autobound Python client gets our answer at its address; Python answers our autobound client at its from",
    {
      ...SLOW,
      skip: python,
    },
    async () => {
      await againstPeer(
        "python3",
        "tests/peers/py_dgram.py",
        "hello",
        "from python",
        () => abstractName("python"),
      );
    },
  );

  test(
    "Ruby: a bound Ruby socket gets our answer at its path; Ruby answers our autobound client at its from",
    {
      ...SLOW,
      skip: rubyMissing(),
    },
    async () => {
      await againstPeer(
        "ruby",
        "tests/peers/rb_dgram.rb",
        "ruby",
        "from ruby",
        (directory) => join(directory, "ruby.sock"),
      );
    },
  );
});
