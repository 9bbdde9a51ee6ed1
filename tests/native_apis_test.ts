/**
 * What each runtime's own APIs do with a descriptor fdpass adopted or
 * received: a listening TCP socket and an accepted TCP connection, as
 * `StreamListener.release()` / `Connection.release()` hand them out. This
 * file records today's behaviour of Bun 1.4 and Deno 2.9 (the README's
 * "Using what you receive" table); when a runtime changes, a test here fails
 * and the table must change with it.
 *
 * Two facts matter for every API that works: it takes the descriptor over
 * (closes it when the server or socket closes), and it sets `O_NONBLOCK` on
 * the open file description, which the process that passed the socket
 * shares. fdpass itself never does either.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import {
  type Connection,
  connectTcp,
  listenTcp,
  type StreamListener,
} from "../mod.ts";
import { libc } from "../_system.ts";
import { noLeak, runScript, RUNTIME } from "./_helpers.ts";

const lib = libc();
const c = lib.platform.constants;
const encoder = new TextEncoder();

/** Whether the open file description behind `fd` is nonblocking. */
function nonblocking(fd: number): boolean {
  const flags = lib.fcntl(fd, c.F_GETFL, 0);
  assert.ok(flags >= 0, `fd ${fd} is open`);
  return (flags & c.O_NONBLOCK) !== 0;
}

function isOpen(fd: number): boolean {
  return lib.fcntl(fd, c.F_GETFD, 0) >= 0;
}

/**
 * A blocking listening socket (as systemd passes one) given away as a
 * number, plus a duplicate this test keeps to watch the shared description.
 */
function blockingListener(): { fd: number; watch: number; port: number } {
  const listener: StreamListener = listenTcp();
  const port = (listener.localAddress() as { port: number }).port;
  const fd = listener.release();
  const flags = lib.fcntl(fd, c.F_GETFL, 0);
  assert.equal(lib.fcntl(fd, c.F_SETFL, flags & ~c.O_NONBLOCK), 0);
  return { fd, watch: lib.fcntl(fd, c.F_DUPFD_CLOEXEC, 0), port };
}

/** A connected pair over TCP: our client, and the accepted end as a number. */
function acceptedConnection(): {
  client: Connection;
  fd: number;
  watch: number;
} {
  using listener = listenTcp();
  const client = connectTcp({
    port: (listener.localAddress() as { port: number }).port,
  });
  const fd = listener.acceptSync().release();
  return { client, fd, watch: lib.fcntl(fd, c.F_DUPFD_CLOEXEC, 0) };
}

async function request(port: number, text: string): Promise<string> {
  const connection = connectTcp({ port });
  await connection.write(encoder.encode(text));
  return await new Response(connection.readable).text();
}

test(`${RUNTIME}: node:net Server.listen({ fd }) serves an adopted listener, takes it over and makes it nonblocking`, async () => {
  await noLeak(async () => {
    const { fd, watch, port } = blockingListener();
    const server = net.createServer((socket) => socket.end("from node:net"));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ fd }, () => resolve());
    });
    assert.equal(await request(port, ""), "from node:net");
    assert.equal(
      nonblocking(watch),
      true,
      "O_NONBLOCK set on the shared description",
    );
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (let i = 0; i < 50 && isOpen(fd); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(isOpen(fd), false, "server.close() closed the fd");
    lib.close(watch);
  });
});

test(
  `${RUNTIME}: node:http listen({ fd }) ${
    RUNTIME === "deno"
      ? "serves HTTP on an adopted listener"
      : "ignores the fd and binds a port of its own"
  }`,
  async () => {
    await noLeak(async () => {
      const { fd, watch, port } = blockingListener();
      const server = http.createServer((req, res) =>
        res.end(`node:http ${req.url}`)
      );
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ fd }, () => resolve());
      });
      const bound = (server.address() as net.AddressInfo).port;
      if (RUNTIME === "bun") {
        assert.notEqual(bound, port);
        assert.equal(isOpen(fd), true);
        lib.close(fd);
      } else {
        const reply = await request(
          port,
          "GET /adopted HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.match(
          reply,
          /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nnode:http \/adopted$/,
        );
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      lib.close(watch);
    });
  },
);

test(
  `${RUNTIME}: new net.Socket({ fd }) on an accepted connection ${
    RUNTIME === "bun"
      ? "fails with ERR_SOCKET_CLOSED and leaves the fd open"
      : "works, takes the fd over and makes it nonblocking"
  }`,
  async () => {
    await noLeak(async () => {
      const { client, fd, watch } = acceptedConnection();
      const socket = new net.Socket({ fd, readable: true, writable: true });
      const outcome = new Promise<string>((resolve) => {
        socket.once("data", (data) => resolve(`data ${data}`));
        socket.once(
          "error",
          (error) => resolve(`error ${(error as { code?: string }).code}`),
        );
      });
      client.writeSync(encoder.encode("ping"));
      if (RUNTIME === "bun") {
        socket.write("x");
      }
      const result = await outcome;
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (RUNTIME === "bun") {
        assert.equal(result, "error ERR_SOCKET_CLOSED");
        assert.equal(isOpen(fd), true);
        assert.equal(nonblocking(watch), false);
        lib.close(fd);
      } else {
        assert.equal(result, "data ping");
        assert.equal(nonblocking(watch), true);
        assert.equal(isOpen(fd), false, "destroy() closed the fd");
      }
      lib.close(watch);
      client.close();
    });
  },
);

test(`${RUNTIME}: ${RUNTIME === "bun" ? "Bun" : "Deno"}.serve({ fd }) ignores the fd and binds a port of its own`, async () => {
  await noLeak(async () => {
    const { fd, watch, port } = blockingListener();
    const g = globalThis as unknown as {
      Bun?: {
        serve(options: unknown): { port: number; stop(force: boolean): void };
      };
      Deno?: {
        serve(options: unknown): {
          addr: { port: number };
          shutdown(): Promise<void>;
        };
      };
    };
    // Both ignore `fd` and bind a port of their own.
    let own: number;
    if (g.Bun !== undefined) {
      const server = g.Bun.serve({
        fd,
        port: 0,
        hostname: "127.0.0.1",
        fetch: () => new Response("hi"),
      });
      own = server.port;
      server.stop(true);
    } else {
      const server = g.Deno!.serve({
        fd,
        port: 0,
        hostname: "127.0.0.1",
        onListen: () => {},
        handler: () => new Response("hi"),
      });
      own = server.addr.port;
      await server.shutdown();
    }
    assert.notEqual(
      own,
      port,
      `${RUNTIME === "bun" ? "Bun" : "Deno"}.serve({ fd }) ignored the fd`,
    );
    assert.equal(isOpen(fd), true);
    lib.close(fd);
    lib.close(watch);
  });
});

test(
  "bun: Bun.listen({ fd }) and Bun.connect({ fd }) take an adopted listener and connection over (nonblocking, closed at the end)",
  { skip: RUNTIME !== "bun" && "Bun only" },
  async () => {
    await noLeak(async () => {
      const B = (globalThis as unknown as {
        Bun: {
          listen(o: unknown): { stop(force: boolean): void };
          connect(o: unknown): Promise<{ write(s: string): void; end(): void }>;
        };
      }).Bun;
      const { fd, watch, port } = blockingListener();
      const server = B.listen({
        fd,
        socket: {
          data: (s: { end(t: string): void }) => s.end("from Bun.listen"),
        },
      });
      assert.equal(await request(port, "hi"), "from Bun.listen");
      assert.equal(nonblocking(watch), true);
      server.stop(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(isOpen(fd), false);
      lib.close(watch);

      const pair = acceptedConnection();
      let received = "";
      const socket = await B.connect({
        fd: pair.fd,
        socket: {
          data: (_: unknown, data: Uint8Array) =>
            received += new TextDecoder().decode(data),
        },
      });
      socket.write("from Bun.connect");
      const buffer = new Uint8Array(32);
      const n = await pair.client.read(buffer);
      assert.equal(
        new TextDecoder().decode(buffer.subarray(0, n)),
        "from Bun.connect",
      );
      pair.client.writeSync(encoder.encode("back"));
      for (let i = 0; i < 100 && received === ""; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(received, "back");
      assert.equal(nonblocking(pair.watch), true);
      socket.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(isOpen(pair.fd), false);
      lib.close(pair.watch);
      pair.client.close();
    });
  },
);

test(
  "bun: Bun.file(fd) reads an accepted connection to its end and Bun.write(fd) writes to it, leaving the fd open and blocking",
  { skip: RUNTIME !== "bun" && "Bun only" },
  async () => {
    await noLeak(async () => {
      const B = (globalThis as unknown as {
        Bun: {
          file(fd: number): { text(): Promise<string> };
          write(fd: unknown, data: string): Promise<number>;
        };
      }).Bun;
      const { client, fd, watch } = acceptedConnection();
      await B.write(B.file(fd), "via Bun.write");
      const buffer = new Uint8Array(32);
      const n = await client.read(buffer);
      assert.equal(
        new TextDecoder().decode(buffer.subarray(0, n)),
        "via Bun.write",
      );
      client.writeSync(encoder.encode("via Bun.file"));
      client.shutdown("write");
      assert.equal(await B.file(fd).text(), "via Bun.file");
      assert.equal(isOpen(fd), true);
      assert.equal(nonblocking(watch), false);
      lib.close(fd);
      lib.close(watch);
      client.close();
    });
  },
);

test(`deno child with --allow-ffi only: node:http serves an adopted listener without --allow-net (from ${RUNTIME})`, async () => {
  await noLeak(async () => {
    const result = await runScript("deno", "tests/peers/native_http.ts");
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*node:http on an adopted fd: \/x/,
    );
  });
});
