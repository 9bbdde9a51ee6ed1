/**
 * Shared memory between Bun and Deno, Deno's half (started by
 * bun_side.ts with `--allow-ffi` only). It receives the memfd's descriptor,
 * maps the same pages, checks Bun's data where it lies, and writes its
 * answer into the mapping for Bun to read.
 *
 * fdpass has no memory-mapping API; this file binds `mmap` and `munmap`
 * through `Deno.dlopen` itself.
 *
 * @module
 */

import process from "node:process";
import { Channel, connect } from "../../mod.ts";
import { checksum, DATA, REPLY } from "./layout.ts";

// The few Deno FFI declarations used here, so that this file also
// type-checks under Bun's types (tsconfig.json covers examples/).
declare const Deno: {
  dlopen(path: string, symbols: Record<string, unknown>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  UnsafePointer: { value(pointer: unknown): bigint };
  UnsafePointerView: new (pointer: unknown) => {
    getArrayBuffer(byteLength: number): ArrayBuffer;
  };
};

const log = (text: string): void => console.log(`  [deno] ${text}`);

const libc = Deno.dlopen("libc.so.6", {
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  // int munmap(void *addr, size_t length)
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
}).symbols;
const PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

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

// 2. Map the same pages. getArrayBuffer wraps the memory itself, no copy.
const address = libc.mmap!(
  null,
  size,
  PROT_READ | PROT_WRITE,
  MAP_SHARED,
  memfd.fd,
  0,
);
if (address === null || Deno.UnsafePointer.value(address) === 2n ** 64n - 1n) {
  throw new Error("mmap failed");
}
const memory = new Uint8Array(
  new Deno.UnsafePointerView(address).getArrayBuffer(size),
);

// 3. Read Bun's data where it lies, and answer in the same memory.
const seen = checksum(memory.subarray(DATA));
log(
  `checksum of ${size - DATA} bytes read through the mapping: ${seen} (${
    seen === sum ? "matches Bun's" : "DIFFERS from Bun's"
  })`,
);
const reply = new TextEncoder().encode(
  `Deno (pid ${process.pid}) saw checksum ${seen} in place`,
);
new DataView(memory.buffer).setUint32(REPLY, reply.length, true);
memory.set(reply, REPLY + 4);
libc.munmap!(address, size); // `memory` must not be touched after this

await channel.send(new TextEncoder().encode("done"));
if (seen !== sum) process.exit(1);
