/**
 * fdpass against CPython on the other end of a real socket: Python's own
 * `socket.send_fds` / `socket.recv_fds` (tests/peers/py_fds.py), across
 * stream, dgram and seqpacket, comparing inode numbers that Python's
 * `os.fstat` prints with ours.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type OwnedFd, pipe, SCM_MAX_FD, type SocketKind } from "../mod.ts";
import {
  abstractName,
  inodeOf,
  noLeak,
  run,
  type RunResult,
  RUNTIME,
} from "./_helpers.ts";
import { readAll, Rendezvous } from "./peers/sync_channel.ts";

const KINDS: readonly SocketKind[] = ["stream", "dgram", "seqpacket"];
const SLOW = { timeout: 120_000 };

const PYTHON = "python3";
const support = await run(PYTHON, [
  "-c",
  "import socket, sys; sys.exit(0 if hasattr(socket, 'send_fds') else 1)",
]).catch((): RunResult => ({
  code: null,
  signal: null,
  stdout: "",
  stderr: "",
}));
const skip = support.code === 0
  ? false
  : "python3 with socket.send_fds (3.9+) is not available";
if (skip !== false) console.warn(`python_peer_test: skipped: ${skip}`);

const encoder = new TextEncoder();

interface Identity {
  dev: number;
  ino: number;
}

/** (st_dev, st_ino) of one of our fds, through /proc like any runtime can. */
function identity(fd: number): Identity {
  const st = statSync(`/proc/self/fd/${fd}`);
  return { dev: Number(st.dev), ino: Number(st.ino) };
}

/** The inode number in a pipe's /proc link, "pipe:[12345]". */
function pipeInode(fd: number): number {
  const match = /^pipe:\[(\d+)\]$/.exec(inodeOf(fd));
  assert.ok(match, `fd ${fd} is not a pipe: ${inodeOf(fd)}`);
  return Number(match[1]);
}

/** Runs py_fds.py in `mode` against a rendezvous; `body` talks to it. */
async function withPython(
  mode: string,
  kind: SocketKind,
  body: (
    channel: Awaited<ReturnType<Rendezvous["accept"]>>,
  ) => Promise<void>,
): Promise<Record<string, unknown>> {
  const path = abstractName(`py-${mode}-${kind}`);
  using rendezvous = new Rendezvous(kind, path);
  const peer = run(PYTHON, ["tests/peers/py_fds.py", mode, kind, path], {
    timeoutMs: 60_000,
  });
  try {
    using channel = await rendezvous.accept(peer);
    await body(channel);
  } catch (error) {
    const result = await peer;
    throw new Error(`${String(error)}\npython stderr: ${result.stderr}`, {
      cause: error,
    });
  }
  const result = await peer;
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe(`a CPython peer with socket.send_fds/recv_fds (${RUNTIME})`, () => {
  for (const kind of KINDS) {
    test(
      `${kind}: fds Python sends (a file it wrote, a pipe) work here and are the same files`,
      {
        skip,
        ...SLOW,
      },
      async () => {
        await noLeak(async () => {
          let file: Identity | undefined;
          let pipeIno = 0;
          const report = await withPython("send", kind, async (channel) => {
            const buffer = new Uint8Array(64);
            const got = await channel.receive(buffer);
            assert.equal(
              new TextDecoder().decode(buffer.subarray(0, got.bytes)),
              "from python",
            );
            assert.equal(got.fds.length, 2);
            const [received, writeEnd] = got.fds as [OwnedFd, OwnedFd];
            file = identity(received.fd);
            pipeIno = pipeInode(writeEnd.fd);
            // Python left the shared offset at 0.
            const contents = new Uint8Array(64);
            const n = received.readSync(contents);
            const text = new TextDecoder().decode(contents.subarray(0, n));
            assert.equal(text, "written by python");
            received.writeSync(encoder.encode(" and typescript"));
            writeEnd.writeSync(encoder.encode(`${RUNTIME} read: ${text}`));
            received.close();
            writeEnd.close();
          });
          assert.deepEqual(report.file, file);
          assert.equal((report.pipe as Identity).ino, pipeIno);
          assert.equal(report.answer, `${RUNTIME} read: written by python`);
          assert.equal(report.contents, "written by python and typescript");
        });
      },
    );

    test(
      `${kind}: fds sent from here (a file, a pipe) work in Python and are the same files`,
      {
        skip,
        ...SLOW,
      },
      async () => {
        await noLeak(async () => {
          const directory = mkdtempSync(join(tmpdir(), "fdpass-py-"));
          const path = join(directory, "file");
          writeFileSync(path, "written by typescript");
          const fd = openSync(path, "r+");
          const [readEnd, writeEnd] = pipe();
          try {
            const report = await withPython(
              "receive",
              kind,
              async (channel) => {
                const sent = channel.sender.sendSync(
                  encoder.encode(`from ${RUNTIME}`),
                  [fd, writeEnd],
                );
                assert.equal(sent, `from ${RUNTIME}`.length);
                writeEnd.close();
                assert.equal(readAll(readEnd), `python got: from ${RUNTIME}`);
                await Promise.resolve();
              },
            );
            assert.equal(report.message, `from ${RUNTIME}`);
            assert.deepEqual(report.identities, [
              identity(fd),
              { dev: identity(readEnd.fd).dev, ino: pipeInode(readEnd.fd) },
            ]);
            assert.equal(report.contents, "written by typescript");
            assert.equal(
              readFileSync(path, "utf8"),
              "written by typescript + python",
            );
          } finally {
            closeSync(fd);
            readEnd.close();
            writeEnd.close();
            rmSync(directory, { recursive: true, force: true });
          }
        });
      },
    );

    test(
      `${kind}: ${SCM_MAX_FD} fds from Python arrive as ${SCM_MAX_FD} OwnedFds of one pipe`,
      {
        skip,
        ...SLOW,
      },
      async () => {
        await noLeak(async () => {
          let inodes: number[] = [];
          const report = await withPython("many", kind, async (channel) => {
            const buffer = new Uint8Array(8);
            const got = await channel.receive(buffer);
            assert.equal(got.bytes, 4);
            assert.equal(got.fds.length, SCM_MAX_FD);
            inodes = got.fds.map((fd) => pipeInode(fd.fd));
            got.fds.at(-1)!.writeSync(encoder.encode(`${got.fds.length}`));
            for (const fd of got.fds) fd.close();
          });
          assert.deepEqual(
            inodes,
            inodes.map(() => (report.pipe as Identity).ino),
          );
          assert.equal(report.answer, String(SCM_MAX_FD));
        });
      },
    );
  }
});
