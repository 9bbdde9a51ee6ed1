/**
 * Shared memory between Bun and Deno, Bun's half. It creates an anonymous
 * in-memory file with fdpass's `memfd()` (sealed at its size), maps it,
 * writes 1 MiB into the mapping, and passes the file's descriptor (not its
 * bytes) to a Deno process over a Unix socket. Deno reads the same pages
 * with `readAt` (no FFI of its own: `--allow-ffi` for fdpass is all it
 * needs), checks the data, and writes its answer into the file with
 * `writeAt`; Bun reads that answer straight out of its own mapping. Only a
 * few bytes of JSON ever cross the socket.
 *
 * fdpass has no memory-mapping API; this file binds `mmap` and `munmap`
 * through `bun:ffi` itself.
 *
 * Run: `bun examples/shared_memory/bun_side.ts` (it starts the Deno side,
 * which gets `--allow-ffi` and nothing else).
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { dlopen, type Pointer, toArrayBuffer } from "bun:ffi";
import { Channel, listen, memfd } from "../../mod.ts";
import { beside, runtimeBinary } from "../_runtimes.ts";
import { checksum, DATA, REPLY, SIZE } from "./layout.ts";

const log = (text: string): void => console.log(`[bun] ${text}`);

const libc = dlopen("libc.so.6", {
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "ptr" },
  // int munmap(void *addr, size_t length)
  munmap: { args: ["ptr", "u64"], returns: "i32" },
}).symbols;
const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

// 1. An in-memory file of SIZE bytes, sealed at that size: the peer can
//    write into it but never shrink it under our mapping (which would crash
//    us with SIGBUS on the next access).
const file = memfd("fdpass-shared", {
  size: SIZE,
  seal: ["shrink", "grow", "seal"],
});

// 2. Map it: `memory` views the shared pages themselves, no copy.
const address = libc.mmap(
  null,
  SIZE,
  PROT_READ | PROT_WRITE,
  MAP_SHARED,
  file.fd,
  0,
);
// MAP_FAILED is (void *)-1, which bun:ffi returns as a BigInt.
if (address === null || BigInt(address) === 2n ** 64n - 1n) {
  throw new Error("mmap failed");
}
const memory = new Uint8Array(toArrayBuffer(address as Pointer, 0, SIZE));
for (let i = DATA; i < SIZE; i++) memory[i] = (i * 7 + 3) & 0xff;
const sum = checksum(memory.subarray(DATA));
log(`wrote ${SIZE - DATA} bytes into a ${SIZE}-byte memfd, checksum ${sum}`);

// 3. Start Deno and hand it the descriptor with one small frame.
const path = `\0fdpass-shared-memory-${process.pid}`;
using listener = listen(path);
const deno = spawn(runtimeBinary("deno"), [
  "run",
  "--allow-ffi",
  "--no-prompt",
  beside(import.meta.url, "deno_side.ts"),
  `@${path.slice(1)}`, // argv cannot hold NUL: "@" marks an abstract name
], { stdio: "inherit" });
const exited = new Promise<number | null>((resolve) =>
  deno.on("exit", (code) => resolve(code))
);
using channel = new Channel(
  await listener.accept({ signal: AbortSignal.timeout(60_000) }),
);
const offer = new TextEncoder().encode(JSON.stringify({ size: SIZE, sum }));
await channel.send(offer, [file]);
file.close(); // the mapping keeps the memory; Deno holds the other reference
let socketBytes = offer.length;

// 4. Deno's answer is in the shared memory; the socket only says "done".
const done = await channel.receive({ signal: AbortSignal.timeout(60_000) });
socketBytes += done.data.length;
const length = new DataView(memory.buffer).getUint32(REPLY, true);
const reply = new TextDecoder().decode(
  memory.subarray(REPLY + 4, REPLY + 4 + length),
);
log(`read from the shared memory: ${JSON.stringify(reply)}`);
log(`bytes through the socket: ${socketBytes}; bytes shared: ${SIZE}`);

libc.munmap(address, SIZE); // `memory` must not be touched after this
const code = await exited;
if (code !== 0 || !reply.includes(String(sum))) process.exit(1);
