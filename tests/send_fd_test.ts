/**
 * sendFd()/receiveFd() and their sync twins: one descriptor with one byte,
 * the convention of Ruby's UNIXSocket#send_io/#recv_io, checked against
 * Ruby itself (installed from Debian's packages when missing), and the
 * errors when no descriptor, or more than one, comes.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ClosedError,
  ControlMessageError,
  listen,
  type OwnedFd,
  pipe,
  type SocketKind,
  socketPair,
} from "../mod.ts";
import {
  inodeOf,
  noLeak,
  ROOT,
  rubyMissing,
  RUNTIME,
  skipUnderQemu,
} from "./_helpers.ts";

const LONG = { timeout: 300_000 };
const decoder = new TextDecoder();

/** Everything readable from `fd` until end of file, as text. */
function readAll(fd: OwnedFd): string {
  let text = "";
  const buffer = new Uint8Array(64);
  for (let n; (n = fd.readSync(buffer)) > 0;) {
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

for (
  const kind of ["stream", "seqpacket", "dgram"] as const satisfies SocketKind[]
) {
  test(
    `sendFdSync() and receiveFdSync() pass one descriptor of the same open file, with one byte (${kind}, ${RUNTIME})`,
    async () => {
      await noLeak(() => {
        const [a, b] = socketPair(kind);
        const [r, w] = pipe();
        try {
          a.sendFdSync(w);
          using received = b.receiveFdSync();
          assert.notEqual(received.fd, w.fd);
          assert.equal(inodeOf(received.fd), inodeOf(w.fd));
          // Nothing else was sent: the one byte was all.
          assert.throws(
            () => b.receiveSync(new Uint8Array(4), { nonblocking: true }),
            { code: "EAGAIN" },
          );
        } finally {
          for (const x of [a, b, r, w]) x.close();
        }
      });
    },
  );
}

test(`sendFd() and receiveFd() do the same without blocking; a receiveFd() waiting for the send gets it (${RUNTIME})`, async () => {
  await noLeak(async () => {
    const [a, b] = socketPair();
    const [r, w] = pipe();
    try {
      const next = b.receiveFd();
      await a.sendFd(r);
      using received = await next;
      assert.equal(inodeOf(received.fd), inodeOf(r.fd));
      const aborted = new AbortController();
      const waiting = b.receiveFd({ signal: aborted.signal });
      aborted.abort(new Error("stop"));
      await assert.rejects(waiting, /stop/);
    } finally {
      for (const x of [a, b, r, w]) x.close();
    }
  });
});

test(`receiveFd() throws ControlMessageError ERR_FD_MISSING for a message or end of stream without a descriptor (${RUNTIME})`, async () => {
  await noLeak(async () => {
    const [a, b] = socketPair();
    try {
      a.sendSync(new Uint8Array([1]));
      assert.throws(
        () => b.receiveFdSync(),
        (error: unknown) =>
          error instanceof ControlMessageError &&
          error.code === "ERR_FD_MISSING" && error.bytes === 1 &&
          /a message of 1 byte came without one/.test(error.message),
      );
      a.shutdown("write");
      await assert.rejects(
        b.receiveFd(),
        (error: unknown) =>
          error instanceof ControlMessageError &&
          error.code === "ERR_FD_MISSING" &&
          /end of stream/.test(error.message),
      );
    } finally {
      a.close();
      b.close();
    }
    assert.throws(() => b.receiveFdSync(), ClosedError);
  });
});

test(
  `receiveFdSync() closes every descriptor when more than one came, and says so in words (${RUNTIME})`,
  {
    skip: skipUnderQemu(
      "receiveFdSync() with two descriptors",
      "it does not report MSG_CTRUNC",
    ),
  },
  async () => {
    await noLeak(() => {
      const [a, b] = socketPair("seqpacket");
      const [r, w] = pipe();
      try {
        a.sendSync(new Uint8Array([0]), [r, w]);
        assert.throws(
          () => b.receiveFdSync(),
          (error: unknown) =>
            error instanceof ControlMessageError &&
            error.code === "ERR_CONTROL_TRUNCATED" && error.closedFds === 1 &&
            // Counted in words: one descriptor "was" closed.
            / the 1 that arrived was closed$/.test(error.message),
        );
      } finally {
        for (const x of [a, b, r, w]) x.close();
      }
    });
  },
);

test(`sendFdSync() refuses what is not a descriptor, before any syscall (${RUNTIME})`, async () => {
  await noLeak(() => {
    const [a, b] = socketPair();
    try {
      for (const bad of [-1, 1.5, "3", null]) {
        assert.throws(
          () => a.sendFdSync(bad as unknown as number),
          (error: unknown) =>
            error instanceof TypeError || error instanceof RangeError,
        );
      }
      assert.throws(
        () => b.receiveFdSync(null as unknown as object),
        TypeError,
      );
      assert.throws(
        () => b.receiveSync(new Uint8Array(1), { nonblocking: true }),
        { code: "EAGAIN" },
      );
    } finally {
      a.close();
      b.close();
    }
  });
});

test(
  `interop: Ruby's recv_io takes what sendFd() sends, and receiveFd() takes what Ruby's send_io sends (${RUNTIME})`,
  { ...LONG, skip: rubyMissing() },
  async () => {
    await noLeak(async () => {
      const directory = mkdtempSync(join(tmpdir(), "fdpass-ruby-"));
      const path = join(directory, "ruby.sock");
      using listener = listen(path);
      const child = spawn(
        "ruby",
        [join(ROOT, "tests/peers/ruby_io.rb"), path],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let output = "";
      child.stdout!.setEncoding("utf8").on("data", (s: string) => output += s);
      child.stderr!.setEncoding("utf8").on("data", (s: string) => output += s);
      const exited = new Promise<number | null>((resolve) =>
        child.on("close", (code) => resolve(code))
      );
      try {
        using connection = await listener.accept({
          signal: AbortSignal.timeout(120_000),
        });
        const [r, w] = pipe();
        await connection.sendFd(w);
        w.close();
        assert.equal(readAll(r), "from ruby");
        r.close();
        using received = await connection.receiveFd({
          signal: AbortSignal.timeout(120_000),
        });
        assert.equal(readAll(received), "to fdpass");
        assert.equal(await exited, 0, output);
        assert.equal(output.trim(), "done");
      } finally {
        child.kill("SIGKILL");
        await exited;
        rmSync(directory, { recursive: true, force: true });
      }
    });
  },
);
