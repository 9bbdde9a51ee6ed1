/**
 * Issue 5's security part: who is at the other end (SO_PEERCRED), socket
 * file modes, never removing what is not ours, sockets that refuse fds, and
 * credentials attached to messages (SO_PASSCRED) next to fds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  ControlMessageError,
  listen,
  type PeerCredentials,
  pipe,
  SCM_MAX_FD,
  socketPair,
  SystemError,
  type UnixListener,
  UnixSocket,
} from "../mod.ts";
import {
  abstractName,
  available,
  BIN,
  noLeak,
  openFds,
  ROOT,
  run,
  type RunResult,
  runScript,
  RUNTIME,
} from "./_helpers.ts";

const OTHER = RUNTIME === "bun" ? "deno" : "bun";

/**
 * Accepts the child's connection, reads its credentials from the kernel, then
 * lets it go on; resolves with them and the pid the child printed.
 */
async function credentialsOf(
  listener: UnixListener,
  child: Promise<RunResult>,
): Promise<{ peer: PeerCredentials; childPid: number }> {
  using connection = await listener.accept({
    signal: AbortSignal.timeout(60_000),
  });
  const peer = connection.peerCredentials();
  // The child prints its own pid only after we have read the kernel's.
  connection.sendSync(new Uint8Array([1]));
  const result = await child;
  assert.equal(result.code, 0, result.stderr);
  return { peer, childPid: Number(result.stdout.trim()) };
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "fdpass-security-"));
}

test("peerCredentials() names this process on a socket pair", async () => {
  await noLeak(() => {
    const [a, b] = socketPair("seqpacket");
    try {
      for (const side of [a, b]) {
        const peer = side.peerCredentials();
        assert.equal(peer.pid, process.pid);
        assert.equal(peer.uid, process.getuid!());
        assert.equal(peer.gid, process.getgid!());
      }
    } finally {
      a.close();
      b.close();
    }
  });
});

for (const runtime of ["bun", "deno"] as const) {
  test(`peerCredentials() names a ${runtime} child that connects, not the listener`, async () => {
    await noLeak(async () => {
      const path = abstractName("peercred");
      using listener = listen(path);
      const child = runScript(runtime, "tests/peers/security_client.ts", [
        path,
      ]);
      const { peer, childPid } = await credentialsOf(listener, child);
      assert.equal(peer.pid, childPid);
      assert.notEqual(peer.pid, process.pid);
      assert.equal(peer.uid, process.getuid!());
    });
  });
}

const setpriv = process.getuid!() === 0 &&
  available("setpriv", ["--version"]);

test(
  "peerCredentials() reports the uid a child really runs as",
  {
    skip: setpriv ? false : "needs root and setpriv to start a child as nobody",
  },
  async () => {
    await noLeak(async () => {
      const path = abstractName("peercred-nobody");
      using listener = listen(path);
      const child = run("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        BIN[OTHER],
        ...(OTHER === "deno" ? ["run", "--quiet", "--allow-ffi"] : []),
        join(ROOT, "tests/peers/security_client.ts"),
        path,
      ], { env: { DENO_DIR: join(tmpdir(), "fdpass-deno-nobody") } });
      const { peer, childPid } = await credentialsOf(listener, child);
      assert.equal(peer.uid, 65534);
      assert.equal(peer.gid, 65534);
      assert.equal(peer.pid, childPid);
    });
  },
);

test("listen() creates the socket file with mode 0o600 unless told otherwise", async () => {
  await noLeak(() => {
    const dir = scratch();
    try {
      const strict = join(dir, "private.sock");
      const open = join(dir, "shared.sock");
      using a = listen(strict);
      using b = listen(open, { mode: 0o660 });
      assert.equal(statSync(strict).mode & 0o7777, 0o600);
      assert.equal(statSync(open).mode & 0o7777, 0o660);
      assert.ok(statSync(strict).isSocket());
      assert.throws(
        () => listen(join(dir, "x.sock"), { mode: 0o10000 }),
        RangeError,
      );
      assert.equal(existsSync(join(dir, "x.sock")), false);
      a.close();
      b.close();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

test("listen() never unlinks an existing path, socket or not, unless asked to replace a stale socket", async () => {
  await noLeak(() => {
    const dir = scratch();
    try {
      const file = join(dir, "data.txt");
      writeFileSync(file, "precious");
      assert.throws(
        () => listen(file),
        (e) => e instanceof SystemError && e.code === "EADDRINUSE",
      );
      assert.equal(statSync(file).isFile(), true);
      assert.equal(statSync(file).size, 8);

      // A stale socket file: its listener kept it on close.
      const stale = join(dir, "stale.sock");
      listen(stale, { unlinkOnClose: false }).close();
      assert.throws(
        () => listen(stale),
        (e) => e instanceof SystemError && e.code === "EADDRINUSE",
      );
      assert.equal(statSync(stale).isSocket(), true);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

test("refuseFds(): fds sent to the socket never reach this process", async () => {
  await noLeak(() => {
    const [a, b] = socketPair("stream");
    const [r, w] = pipe();
    try {
      b.refuseFds();
      const before = openFds().size;
      let refusedAtSender = false;
      try {
        a.sendSync(new Uint8Array([1, 2, 3]), [r, w]);
      } catch (error) {
        // Linux 6.16+ with SO_PASSRIGHTS: the sender hears EPERM.
        assert.ok(error instanceof SystemError && error.code === "EPERM");
        refusedAtSender = true;
      }
      if (!refusedAtSender) {
        assert.throws(
          () => b.receiveSync(new Uint8Array(8)),
          (e) =>
            e instanceof ControlMessageError && e.code === "ERR_FDS_REFUSED" &&
            e.bytes === 3,
        );
      }
      assert.equal(openFds().size, before);
      // Plain data still flows.
      a.sendSync(new Uint8Array([9]));
      const buffer = new Uint8Array(8);
      const { bytes, fds } = b.receiveSync(buffer, { nonblocking: true });
      assert.equal(fds.length, 0);
      assert.equal(buffer[bytes - 1], 9);
    } finally {
      for (const x of [a, b, r, w]) x.close();
    }
  });
});

test("refuseFds() discards fds queued before it was called and reports them", async () => {
  await noLeak(async () => {
    const [a, b] = socketPair("seqpacket");
    const [r, w] = pipe();
    try {
      a.sendSync(new Uint8Array([1]), [r, w, r]);
      b.refuseFds();
      const before = openFds().size;
      await assert.rejects(
        b.receive(new Uint8Array(8)),
        (e) =>
          e instanceof ControlMessageError && e.code === "ERR_FDS_REFUSED" &&
          e.bytes === 1 && e.closedFds === 0,
      );
      assert.equal(openFds().size, before);
    } finally {
      for (const x of [a, b, r, w]) x.close();
    }
  });
});

for (const kind of ["stream", "dgram", "seqpacket"] as const) {
  test(`receiveCredentials() attaches pid/uid/gid and still fits ${SCM_MAX_FD} fds (${kind})`, async () => {
    await noLeak(() => {
      const [a, b] = socketPair(kind);
      const [r, w] = pipe();
      try {
        b.receiveCredentials();
        const many = Array.from(
          { length: SCM_MAX_FD },
          (_, i) => i % 2 ? w : r,
        );
        a.sendSync(new Uint8Array([1]), many);
        const full = b.receiveSync(new Uint8Array(4));
        assert.equal(full.fds.length, SCM_MAX_FD);
        assert.deepEqual(full.credentials, {
          pid: process.pid,
          uid: process.getuid!(),
          gid: process.getgid!(),
        });
        for (const fd of full.fds) fd.close();

        a.sendSync(new Uint8Array([2]));
        const plain = b.receiveSync(new Uint8Array(4));
        assert.equal(plain.fds.length, 0);
        assert.equal(plain.credentials?.pid, process.pid);

        b.receiveCredentials(false);
        a.sendSync(new Uint8Array([3]), [r]);
        const off = b.receiveSync(new Uint8Array(4));
        assert.equal(off.credentials, undefined);
        assert.equal(off.fds.length, 1);
        for (const fd of off.fds) fd.close();
      } finally {
        for (const x of [a, b, r, w]) x.close();
      }
    });
  });
}

test("credentials from another process name that process", async () => {
  await noLeak(async () => {
    const path = abstractName("passcred");
    using listener = listen(path, { kind: "seqpacket" });
    const child = runScript(OTHER, "tests/peers/security_client.ts", [
      path,
      "seqpacket",
    ]);
    using connection = await listener.accept({
      signal: AbortSignal.timeout(60_000),
    });
    connection.receiveCredentials();
    connection.sendSync(new Uint8Array([1]));
    const message = await connection.receive(new Uint8Array(16), {
      signal: AbortSignal.timeout(60_000),
    });
    const result = await child;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(message.credentials?.pid, Number(result.stdout.trim()));
    assert.equal(message.fds.length, 1);
    for (const fd of message.fds) fd.close();
  });
});

test("a socket adopted with SO_PASSCRED already on still receives 253 fds", async () => {
  await noLeak(() => {
    const [a, b] = socketPair("seqpacket");
    const [carrierA, carrierB] = socketPair("seqpacket");
    const [r, w] = pipe();
    try {
      b.receiveCredentials();
      carrierA.sendSync(new Uint8Array([1]), [b]);
      b.close();
      const { fds } = carrierB.receiveSync(new Uint8Array(1));
      using adopted = UnixSocket.fromFd(fds[0]!);
      a.sendSync(new Uint8Array([2]), Array(SCM_MAX_FD).fill(r));
      const got = adopted.receiveSync(new Uint8Array(4));
      assert.equal(got.fds.length, SCM_MAX_FD);
      for (const fd of got.fds) fd.close();
    } finally {
      for (const x of [a, carrierA, carrierB, r, w]) x.close();
    }
  });
});
