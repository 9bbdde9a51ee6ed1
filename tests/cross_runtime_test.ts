/**
 * The current runtime talks to a child of the other runtime and of its own
 * (Bun <-> Deno, Bun <-> Bun, Deno <-> Deno) with the sync API, passing an
 * open file and a pipe each way, and checks contents and identity. Deno
 * children run with `--allow-ffi` only.
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
import { type OwnedFd, pipe, type SocketKind } from "../mod.ts";
import {
  abstractName,
  inodeOf,
  noLeak,
  runScript,
  RUNTIME,
} from "./_helpers.ts";
import { readAll, Rendezvous } from "./peers/sync_channel.ts";

const KINDS: readonly SocketKind[] = ["stream", "dgram", "seqpacket"];
const CHILDREN: readonly ("bun" | "deno")[] = RUNTIME === "bun"
  ? ["deno", "bun"]
  : ["bun", "deno"];
const SLOW = { timeout: 120_000 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe(`a ${RUNTIME} parent and a child of each runtime`, () => {
  for (const child of CHILDREN) {
    for (const kind of KINDS) {
      test(
        `${kind}: ${RUNTIME} parent <-> ${child} child pass a file and a pipe both ways`,
        SLOW,
        async () => {
          await noLeak(async () => {
            const directory = mkdtempSync(join(tmpdir(), "fdpass-cross-"));
            const path = join(directory, "file");
            writeFileSync(path, "parent wrote\n");
            // Opened here, offset 0: the child reads from the shared offset.
            const fd = openSync(path, "r+");
            const [replyRead, replyWrite] = pipe();
            const address = abstractName(`cross-${child}-${kind}`);
            const rendezvous = new Rendezvous(kind, address);
            const peer = runScript(child, "tests/peers/sync_peer.ts", [
              kind,
              address,
            ], { timeoutMs: 60_000 });
            const received: OwnedFd[] = [];
            try {
              using channel = await rendezvous.accept(peer);
              const sent = channel.sender.sendSync(
                encoder.encode("file and pipe"),
                [fd, replyWrite],
              );
              assert.equal(sent, 13);
              replyWrite.close();

              const buffer = new Uint8Array(16);
              const back = await channel.receive(buffer);
              received.push(...back.fds);
              assert.equal(
                decoder.decode(buffer.subarray(0, back.bytes)),
                "back",
              );
              assert.equal(back.fds.length, 2);
              const [file, greeting] = back.fds as [OwnedFd, OwnedFd];

              // The child's report came through the pipe we passed it.
              assert.equal(
                readAll(replyRead),
                `${child} child read "parent wrote\\n" after "file and pipe"`,
              );
              // The child's pipe, read here.
              assert.match(inodeOf(greeting.fd), /^pipe:\[\d+\]$/);
              assert.equal(readAll(greeting), `hello from the ${child} child`);
              // The file came back as the same open file: same inode, and the
              // offset the child's write advanced.
              assert.equal(inodeOf(file.fd), inodeOf(fd));
              assert.equal(
                statSync(`/proc/self/fd/${file.fd}`).ino,
                statSync(path).ino,
              );
              file.writeSync(encoder.encode("parent again\n"));
              assert.equal(
                readFileSync(path, "utf8"),
                "parent wrote\nchild wrote\nparent again\n",
              );
            } catch (error) {
              const result = await peer;
              throw new Error(
                `${String(error)}\n${child} child stderr: ${result.stderr}`,
                { cause: error },
              );
            } finally {
              for (const x of received) x.close();
              rendezvous.close();
              replyRead.close();
              replyWrite.close();
              closeSync(fd);
              rmSync(directory, { recursive: true, force: true });
            }
            const result = await peer;
            assert.equal(result.code, 0, result.stderr);
            assert.equal(result.stderr, "");
            assert.deepEqual(JSON.parse(result.stdout), {
              runtime: child,
              kind,
              message: "file and pipe",
              read: "parent wrote\n",
            });
          });
        },
      );
    }
  }
});
