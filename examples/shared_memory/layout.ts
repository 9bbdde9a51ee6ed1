/**
 * The layout both sides of the shared-memory example agree on.
 *
 * @module
 */

/** Size of the shared region: 1 MiB. */
export const SIZE = 1024 * 1024;
/** Where Deno writes its answer: a u32 length (little-endian), then UTF-8. */
export const REPLY = 0;
/** Where Bun's data starts; it runs to the end of the region. */
export const DATA = 4096;

/** FNV-1a over `bytes`: what each side computes over the same memory. */
export function checksum(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  }
  return hash >>> 0;
}
