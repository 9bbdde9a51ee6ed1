/**
 * Little-endian machine words written and read through a `DataView` without
 * BigInt: addresses and sizes on these targets stay below 2^53.
 *
 * @module
 */

const TWO_32 = 0x1_0000_0000;

/** Writes `value` as an unsigned 4- or 8-byte little-endian word. */
export function writeWord(
  view: DataView,
  offset: number,
  value: number,
  size: 4 | 8,
): void {
  if (size === 4) {
    view.setUint32(offset, value, true);
    return;
  }
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/**
 * Reads an unsigned 4- or 8-byte little-endian word. An 8-byte word whose
 * value exceeds 2^53 reads as `Infinity`, which every bounds check rejects.
 */
export function readWord(view: DataView, offset: number, size: 4 | 8): number {
  const low = view.getUint32(offset, true);
  if (size === 4) return low;
  const high = view.getUint32(offset + 4, true);
  if (high === 0) return low;
  return high >= 0x20_0000 ? Infinity : high * TWO_32 + low;
}
