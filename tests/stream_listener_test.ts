/**
 * `StreamListener`, `listenTcp`, `Connection` and `connectTcp`: listening
 * stream sockets of any family, created here or adopted (by number or
 * received over a Unix socket), across the kernel's TCP stack over IPv4 and
 * IPv6 and Unix sockets, with Node's `net` as an independent client. Also
 * the pure sockaddr_in/in6 layouts of every platform, byte for byte.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import {
  bind,
  ClosedError,
  Connection,
  connectTcp,
  listen,
  listenTcp,
  OwnedFd,
  pipe,
  socketPair,
  StreamListener,
  SystemError,
} from "../mod.ts";
import {
  decodeSocketAddress,
  encodeSockaddrInet,
  formatIpv6,
  INET_LAYOUTS,
  parseIpv4,
  parseIpv6,
  PLATFORMS,
} from "../platform/mod.ts";
import { libc } from "../_system.ts";
import { join } from "node:path";
import { abstractName, available, noLeak, ROOT, run } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the `flags:` line of /proc/self/fdinfo/N (octal open flags). */
function openFlags(fd: number): number {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  const match = /^flags:\s+([0-7]+)$/m.exec(info);
  assert.ok(match, `no flags line in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1]!, 8);
}
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

/**
 * A blocking TCP listener on 127.0.0.1 made with plain libc calls, as
 * systemd or a C supervisor would pass it.
 */
function blockingTcpListener(): OwnedFd {
  const lib = libc();
  const fd = new OwnedFd(lib.socket(2, lib.platform.constants.SOCK_STREAM, 0));
  const address = encodeSockaddrInet("127.0.0.1", 0, lib.platform);
  assert.equal(lib.bind(fd.fd, address.bytes, address.length), 0);
  assert.equal(lib.listen(fd.fd, 16), 0);
  return fd;
}

function portOf(listener: StreamListener): number {
  const address = listener.localAddress();
  assert.notEqual(address.family, "unix");
  return (address as { port: number }).port;
}

function netClient(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, host);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => text += chunk);
    socket.once("end", () => resolve(text));
    socket.once("error", reject);
  });
}

describe("sockaddr_in and sockaddr_in6 layouts (pure)", () => {
  test("IPv4 and IPv6 text parses strictly and prints as RFC 5952", () => {
    assert.deepEqual([...parseIpv4("127.0.0.1")!], [127, 0, 0, 1]);
    for (
      const bad of [
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "01.2.3.4",
        "0x1.2.3.4",
        "",
        " 1.2.3.4",
      ]
    ) {
      assert.equal(parseIpv4(bad), null, bad);
    }
    const cases: [string, string][] = [
      ["::", "::"],
      ["::1", "::1"],
      ["2001:DB8:0:0:0:0:2:1", "2001:db8::2:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
      ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1"],
      ["::ffff:10.1.2.3", "::ffff:10.1.2.3"],
      ["fe80::", "fe80::"],
    ];
    for (const [input, output] of cases) {
      const bytes = parseIpv6(input);
      assert.ok(bytes !== null, input);
      assert.equal(formatIpv6(bytes), output, input);
    }
    for (
      const bad of [
        ":::",
        "1::2::3",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "12345::",
        "::1%eth0",
        "1.2.3.4::",
        "g::",
      ]
    ) {
      assert.equal(parseIpv6(bad), null, bad);
    }
  });

  test("every platform's sockaddr_in: Linux has a 2-byte family, the BSDs sin_len then a 1-byte family", () => {
    for (const layout of PLATFORMS) {
      const { bytes, length } = encodeSockaddrInet("10.1.2.3", 0x1f90, layout);
      assert.equal(length, 16);
      const expected = layout.os === "linux"
        ? [2, 0, 0x1f, 0x90, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0]
        : [16, 2, 0x1f, 0x90, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0];
      assert.deepEqual([...bytes], expected, layout.name);
      assert.deepEqual(decodeSocketAddress(bytes, length, layout), {
        family: "inet",
        address: "10.1.2.3",
        port: 8080,
      });
    }
  });

  test("every platform's sockaddr_in6: 28 bytes, AF_INET6 10 / 30 / 28, scope id in host order", () => {
    const family = { linux: 10, darwin: 30, freebsd: 28 };
    for (const layout of PLATFORMS) {
      const { bytes, length } = encodeSockaddrInet("[fe80::1]", 443, layout);
      assert.equal(length, 28);
      const head = layout.os === "linux"
        ? [family.linux, 0]
        : [28, family[layout.os]];
      assert.deepEqual(
        [...bytes],
        [
          ...head,
          0x01,
          0xbb,
          0,
          0,
          0,
          0,
          0xfe,
          0x80,
          ...new Array(13).fill(0),
          1,
          0,
          0,
          0,
          0,
        ],
        layout.name,
      );
      assert.equal(INET_LAYOUTS[layout.os].AF_INET6, family[layout.os]);
      bytes[24] = 3; // sin6_scope_id = 3
      assert.deepEqual(decodeSocketAddress(bytes, length, layout), {
        family: "inet6",
        address: "fe80::1%3",
        port: 443,
      });
      // Cut short: no address.
      assert.equal(decodeSocketAddress(bytes, 20, layout), null);
    }
  });

  test("encodeSockaddrInet() refuses names and out-of-range ports", () => {
    const layout = PLATFORMS[0]!;
    assert.throws(() => encodeSockaddrInet("localhost", 80, layout), TypeError);
    assert.throws(
      () => encodeSockaddrInet("1.2.3.4", 65536, layout),
      RangeError,
    );
    assert.throws(() => encodeSockaddrInet("1.2.3.4", -1, layout), RangeError);
    assert.throws(() => encodeSockaddrInet("1.2.3.4", 1.5, layout), RangeError);
    assert.throws(
      () => encodeSockaddrInet(3 as unknown as string, 80, layout),
      TypeError,
    );
  });
});

describe("StreamListener over TCP", () => {
  for (const hostname of ["127.0.0.1", "::1"]) {
    test(`accept() serves Node's net client over ${hostname}; both ends report the addresses the kernel used`, async () => {
      await noLeak(async () => {
        using listener = listenTcp({ hostname });
        const port = portOf(listener);
        assert.ok(port > 0);
        const family = hostname.includes(":") ? "inet6" : "inet";
        assert.deepEqual(listener.localAddress(), {
          family,
          address: hostname,
          port,
        });
        const next = listener.accept({ signal: AbortSignal.timeout(30_000) });
        const client = await netClient(port, hostname);
        const reply = readAll(client);
        using connection = await next;
        assert.ok(connection instanceof OwnedFd);
        assert.deepEqual(connection.localAddress(), {
          family,
          address: hostname,
          port,
        });
        assert.deepEqual(connection.remoteAddress(), {
          family,
          address: hostname,
          port: client.localPort,
        });
        assert.ok(openFlags(connection.fd) & O_CLOEXEC, "close-on-exec");
        connection.writeSync(encoder.encode("hello"));
        connection.shutdown("write");
        assert.equal(await reply, "hello");
        client.destroy();
      });
    });
  }

  test("acceptSync(), connectTcp() and shutdown(): bytes both ways, then end of stream", async () => {
    await noLeak(() => {
      using listener = listenTcp();
      using client = connectTcp({ port: portOf(listener) });
      using server = listener.acceptSync();
      client.writeSync(encoder.encode("ping"));
      const buffer = new Uint8Array(8);
      assert.equal(
        decoder.decode(buffer.subarray(0, server.readSync(buffer))),
        "ping",
      );
      server.shutdown("write");
      assert.equal(client.readSync(buffer), 0);
      assert.throws(
        () => server.shutdown("sideways" as "read"),
        TypeError,
      );
    });
  });

  test("connectTcp() to a closed port fails with ECONNREFUSED and leaks nothing", async () => {
    await noLeak(() => {
      const listener = listenTcp();
      const port = portOf(listener);
      listener.close();
      assert.throws(
        () => connectTcp({ port }),
        (e) => e instanceof SystemError && e.code === "ECONNREFUSED",
      );
    });
  });

  test("a blocking listener adopted by number is never made nonblocking, and waiting lets timers run", async () => {
    await noLeak(async () => {
      const original = blockingTcpListener();
      const before = openFlags(original.fd);
      assert.equal(before & O_NONBLOCK, 0);
      const duplicate = original.dup(); // the sender's copy: same description
      using listener = StreamListener.fromFd(original);
      assert.equal(original.closed, true, "ownership moved");
      const port = portOf(listener);
      const next = listener.accept({ signal: AbortSignal.timeout(30_000) });
      // If accept() held the thread, this interval would never reach 10.
      let ticks = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (++ticks < 10) return;
          clearInterval(timer);
          resolve();
        }, 1);
      });
      const client = connectTcp({ port });
      using connection = await next;
      assert.equal(openFlags(listener.fd), before, "O_NONBLOCK untouched");
      assert.equal(openFlags(duplicate.fd) & O_NONBLOCK, 0);
      // Twice more through the sync path, which polls first as well.
      for (let i = 0; i < 2; i++) {
        using c = connectTcp({ port });
        using s = listener.acceptSync();
        assert.equal(
          (s.remoteAddress() as { port: number }).port,
          (c.localAddress() as { port: number }).port,
        );
      }
      assert.equal(openFlags(duplicate.fd) & O_NONBLOCK, 0);
      client.close();
      connection.close();
      duplicate.close();
    });
  });

  test("a listener received over a Unix socket accepts in the receiver; accepted connections are passed on and served there", async () => {
    await noLeak(async () => {
      const [a, b] = socketPair();
      try {
        const original = listenTcp();
        const port = portOf(original);
        a.sendSync(new Uint8Array([1]), [original]);
        original.close(); // sending borrowed it: only the receiver holds it now
        const { fds } = b.receiveSync(new Uint8Array(1));
        using listener = StreamListener.fromFd(fds[0]!);
        assert.equal(portOf(listener), port);
        using client = connectTcp({ port });
        const accepted = await listener.accept({
          signal: AbortSignal.timeout(30_000),
        });
        // Pass the connection on, as a front hands it to a worker.
        a.sendSync(new Uint8Array([2]), [accepted]);
        accepted.close();
        const passed = b.receiveSync(new Uint8Array(1)).fds;
        using connection = Connection.fromFd(passed[0]!);
        assert.equal(passed[0]!.closed, true);
        assert.equal(
          (connection.localAddress() as { port: number }).port,
          port,
        );
        connection.writeSync(encoder.encode("from the worker"));
        const buffer = new Uint8Array(32);
        assert.equal(
          decoder.decode(buffer.subarray(0, client.readSync(buffer))),
          "from the worker",
        );
      } finally {
        a.close();
        b.close();
      }
    });
  });

  test("for await ends when the listener is closed", async () => {
    await noLeak(async () => {
      const listener = listenTcp();
      const port = portOf(listener);
      const clients = [
        connectTcp({ port }),
        connectTcp({ port }),
        connectTcp({ port }),
      ];
      let served = 0;
      for await (const connection of listener) {
        connection.close();
        if (++served === 3) listener.close();
      }
      assert.equal(served, 3);
      for (const c of clients) c.close();
    });
  });
});

describe("StreamListener: Unix sockets, refusals, cancellation", () => {
  test("a Unix stream listener is adopted too, and reports its path", async () => {
    await noLeak(async () => {
      const path = abstractName("stream-unix");
      const [a, b] = socketPair();
      try {
        const unix = listen(path);
        a.sendSync(new Uint8Array([1]), [unix]);
        unix.close();
        using listener = StreamListener.fromFd(
          b.receiveSync(new Uint8Array(1)).fds[0]!,
        );
        assert.deepEqual(listener.localAddress(), {
          family: "unix",
          address: path,
        });
        const next = listener.accept();
        const { connect } = await import("../mod.ts");
        using client = connect(path);
        using connection = await next;
        assert.deepEqual(connection.remoteAddress(), {
          family: "unix",
          address: "",
        });
        client.sendSync(encoder.encode("x"));
        assert.equal(connection.readSync(new Uint8Array(4)), 1);
      } finally {
        a.close();
        b.close();
      }
    });
  });

  test("fromFd() refuses what is not a listening stream socket and leaves it open", async () => {
    await noLeak(() => {
      using listener = listenTcp();
      using client = connectTcp({ port: portOf(listener) });
      assert.throws(() => StreamListener.fromFd(client.fd), /not listening/);
      assert.equal(client.closed, false);
      using dgram = bind(abstractName("stream-dgram"));
      assert.throws(() => StreamListener.fromFd(dgram.fd), TypeError);
      assert.equal(dgram.closed, false);
      const unconnected = new OwnedFd(libc().socket(2, 1, 0));
      assert.throws(() => StreamListener.fromFd(unconnected), TypeError);
      assert.equal(unconnected.closed, false);
      assert.doesNotThrow(() => Connection.fromFd(unconnected).close());
      assert.equal(unconnected.closed, true);
      assert.throws(
        () => Connection.fromFd(listener.fd),
        /is a listening socket/,
      );
      const [r, w] = pipe();
      try {
        assert.throws(
          () => StreamListener.fromFd(r),
          (e) => e instanceof SystemError && e.code === "ENOTSOCK",
        );
        assert.equal(r.closed, false);
      } finally {
        r.close();
        w.close();
      }
      for (const bad of [-1, 2 ** 31, 1.5, "3", null, {}, { fd: 3 }]) {
        assert.throws(
          () => StreamListener.fromFd(bad as number),
          TypeError,
          String(bad),
        );
        assert.throws(
          () => Connection.fromFd(bad as number),
          TypeError,
          String(bad),
        );
      }
      const closed = new OwnedFd(0x7fff_0000);
      closed.release();
      assert.throws(() => StreamListener.fromFd(closed), ClosedError);
    });
  });

  test("fromFd() checks the number an OwnedFd really owns, whatever a subclass's fd getter says", async () => {
    await noLeak(() => {
      using listener = listenTcp();
      const [r, w] = pipe();
      const lying = listener.fd;
      class Liar extends OwnedFd {
        override get fd(): number {
          return lying; // a listening socket; the object owns a pipe
        }
      }
      const liar = new Liar(r.release());
      try {
        assert.throws(
          () => StreamListener.fromFd(liar),
          (e) => e instanceof SystemError && e.code === "ENOTSOCK",
        );
        assert.equal(liar.closed, false, "left with its owner");
      } finally {
        liar.close();
        w.close();
      }
    });
  });

  test("accept() validates its options before anything happens", async () => {
    await noLeak(async () => {
      using listener = listenTcp();
      const controller = new AbortController();
      for (const options of [null, 3, { signal: controller }, { signal: {} }]) {
        await assert.rejects(
          listener.accept(options as { signal?: AbortSignal }),
          TypeError,
        );
      }
      // The listener still works: nothing was queued or armed.
      using client = connectTcp({ port: portOf(listener) });
      using connection = await listener.accept();
      assert.ok(connection.fd > 2);
      client.close();
    });
  });

  test("abort rejects with the reason; close() and release() reject pending accepts with ClosedError", async () => {
    await noLeak(async () => {
      const listener = listenTcp();
      const controller = new AbortController();
      const aborted = listener.accept({ signal: controller.signal });
      const queued = listener.accept(); // waits behind the first
      await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort(new Error("stop"));
      await assert.rejects(aborted, /stop/);
      listener.close();
      await assert.rejects(queued, ClosedError);
      await assert.rejects(listener.accept(), ClosedError);
      assert.throws(() => listener.acceptSync(), ClosedError);
      listener.close(); // idempotent
      assert.equal(String(listener), "StreamListener(closed)");

      const second = listenTcp();
      const pending = second.accept();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const number = second.release();
      await assert.rejects(pending, ClosedError);
      // Still open, now ours: adopt it again and use it.
      using again = StreamListener.fromFd(number);
      using _client = connectTcp({ port: portOf(again) });
      using connection = again.acceptSync();
      assert.match(String(connection), /^Connection\(\d+\)$/);
    });
  });
});

describe("Connection: everything OwnedFd has", () => {
  test("an accepted TCP connection's readable and writable carry bytes both ways, and it closes once both streams end", async () => {
    await noLeak(async () => {
      using listener = listenTcp();
      const next = listener.accept({ signal: AbortSignal.timeout(30_000) });
      using client = connectTcp({ port: portOf(listener) });
      const connection = await next;
      const writer = connection.writable.getWriter();
      const reply = new Response(connection.readable).text();
      await client.write(encoder.encode("request"));
      client.shutdown("write");
      assert.equal(await reply, "request");
      assert.equal(connection.closed, false, "the writable still holds it");
      await writer.write(encoder.encode("response"));
      await writer.close(); // shuts the sending side down, then closes
      assert.equal(connection.closed, true);
      assert.equal(await new Response(client.readable).text(), "response");
    });
  });
});

describe("StreamListener: a listener shared with a CPython process", () => {
  test(
    "a blocking TCP listener received from CPython, which keeps its copy, is served here and stays blocking for it",
    {
      skip: available("python3", ["-c", "import socket; socket.send_fds"])
        ? false
        : "python3 with socket.send_fds (3.9+) is not available",
    },
    async () => {
      await noLeak(async () => {
        const path = abstractName("py-listener");
        using unix = listen(path);
        const child = run("python3", [
          join(ROOT, "tests/peers/py_tcp_listener.py"),
          path,
        ]);
        using peer = await unix.accept({ signal: AbortSignal.timeout(60_000) });
        const buffer = new Uint8Array(16);
        const received = await peer.receive(buffer, {
          signal: AbortSignal.timeout(60_000),
        });
        using listener = StreamListener.fromFd(received.fds[0]!);
        assert.equal(
          portOf(listener),
          Number(decoder.decode(buffer.subarray(0, received.bytes))),
        );
        {
          using connection = await listener.accept({
            signal: AbortSignal.timeout(60_000),
          });
          // Take the writable first: the fd closes when the last stream ends.
          const writer = connection.writable.getWriter();
          const request = await new Response(connection.readable).text();
          await writer.write(encoder.encode(`fdpass read "${request}"`));
          await writer.close();
        }
        peer.close(); // lets the child finish
        const result = await child;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(JSON.parse(result.stdout.trim()), {
          reply: 'fdpass read "hello from python"',
          blocking: true,
        });
      });
    },
  );
});
