/**
 * Shared memory between Bun and Deno, Deno's half (started by
 * bun_side.ts with `--allow-ffi` only). It receives the memfd's descriptor,
 * checks that its size is sealed, reads Bun's data from the same pages with
 * `readAt`, and writes its answer into the file with `writeAt`: Bun sees it
 * at once in its own mapping. No FFI of its own: fdpass's `OwnedFd` does
 * the positional I/O.
 *
 * @module
 */

import process from "node:process";
import { Channel, connect } from "../../mod.ts";
import { checksum, DATA, REPLY } from "./layout.ts";

const log = (text: string): void => console.log(`  [deno] ${text}`);

const arg = process.argv[2]!;
const path = arg.startsWith("@") ? `\0${arg.slice(1)}` : arg;
using channel = new Channel(connect(path));

// 1. One small frame: the size, Bun's checksum, and the memfd itself.
const offer = await channel.receive({ signal: AbortSignal.timeout(60_000) });
const { size, sum } = JSON.parse(new TextDecoder().decode(offer.data)) as {
  size: number;
  sum: number;
};
using memfd = offer.fds[0]!;
log(`received fd ${memfd.fd} and ${offer.data.length} bytes of JSON`);

// 2. Trust the size only if nobody can change it any more.
const seals = memfd.seals();
if (!seals.includes("shrink") || !seals.includes("grow")) {
  throw new Error(`the memfd's size is not sealed (seals: ${seals})`);
}
const info = await memfd.stat();
log(`a ${info.type} of ${info.size} bytes, sealed: ${seals.join(", ")}`);

// 3. Read Bun's data from the shared pages (page cache, not the socket).
const data = new Uint8Array(size - DATA);
let got = 0;
while (got < data.length) {
  const n = await memfd.readAt(data.subarray(got), DATA + got);
  if (n === 0) throw new Error("the memfd ended early");
  got += n;
}
const seen = checksum(data);
log(
  `checksum of ${data.length} bytes read from the shared file: ${seen} (${
    seen === sum ? "matches Bun's" : "DIFFERS from Bun's"
  })`,
);

// 4. Answer in the same memory: a u32 length, then UTF-8.
const reply = new TextEncoder().encode(
  `Deno (pid ${process.pid}) saw checksum ${seen} in the shared file`,
);
const answer = new Uint8Array(4 + reply.length);
new DataView(answer.buffer).setUint32(0, reply.length, true);
answer.set(reply, 4);
await memfd.writeAt(answer, REPLY);

await channel.send(new TextEncoder().encode("done"));
if (seen !== sum) process.exit(1);
