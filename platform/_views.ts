/**
 * Internal: the engine's own view of typed arrays. Any object can shadow
 * `byteLength`, `byteOffset` or `buffer` (an own property, a subclass getter,
 * a swapped prototype), so every length, offset or buffer that decides what
 * memory the kernel touches comes from the `%TypedArray%.prototype` and
 * `ArrayBuffer.prototype` getters captured when this module loads, never
 * from the object. Pure functions; no runtime is named.
 *
 * @module
 */

type Getter = (this: unknown) => unknown;

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);

function getter(target: object, key: PropertyKey): Getter {
  const get = Object.getOwnPropertyDescriptor(target, key)?.get;
  if (typeof get !== "function") {
    throw new Error(`fdpass: this engine has no ${String(key)} getter`);
  }
  return get as Getter;
}

const tagGetter = getter(TypedArrayPrototype, Symbol.toStringTag);
const lengthGetter = getter(TypedArrayPrototype, "byteLength");
const offsetGetter = getter(TypedArrayPrototype, "byteOffset");
const bufferGetter = getter(TypedArrayPrototype, "buffer");
const arrayBufferLength = getter(ArrayBuffer.prototype, "byteLength");
const detachedGetter: Getter | undefined = Object.getOwnPropertyDescriptor(
  ArrayBuffer.prototype,
  "detached",
)?.get as Getter | undefined;
const resizableGetter: Getter | undefined = Object.getOwnPropertyDescriptor(
  ArrayBuffer.prototype,
  "resizable",
)?.get as Getter | undefined;
const sharedLength: Getter | undefined = typeof SharedArrayBuffer ===
    "function"
  ? getter(SharedArrayBuffer.prototype, "byteLength")
  : undefined;
const isArrayBuffer = (value: unknown): value is ArrayBuffer =>
  value instanceof ArrayBuffer;

/**
 * The last two views {@linkcode isUint8Array} accepted: an object's
 * internal type never changes, so a send and a receive loop that pass the
 * same two buffers skip the tag getter (~50 ns a call in Bun, ~5 % of a
 * sync pair). Held strongly, so only views of buffers up to
 * {@linkcode CACHED_MAX} bytes are kept: at most 2 MiB stays alive.
 * Until then both hold an object no caller has: the comparisons only ever
 * see objects, which V8 compares inline (against the symbol this held
 * before, it called a builtin: ~35 instructions a Deno sync pair).
 */
let checked0: unknown = {};
let checked1: unknown = checked0;
const CACHED_MAX = 1 << 20;

/**
 * Whether `value` really is a `Uint8Array` (or a subclass such as Node's
 * `Buffer`), by the engine's internal tag: an object that only inherits
 * from `Uint8Array.prototype` is not.
 */
export function isUint8Array(value: unknown): value is Uint8Array {
  return value === checked0 || value === checked1 || checkUint8Array(value);
}

/**
 * {@linkcode isUint8Array} for a view other than the last two, apart so
 * that the hit is small enough for V8 to inline into every caller.
 */
function checkUint8Array(value: unknown): boolean {
  if (
    typeof value !== "object" || value === null ||
    tagGetter.call(value) !== "Uint8Array"
  ) return false;
  if (bufferLength(bufferGetter.call(value) as ArrayBufferLike) <= CACHED_MAX) {
    checked1 = checked0;
    checked0 = value;
  }
  return true;
}

/** The real byte length of a typed array (0 once detached or out of bounds). */
export function viewLength(view: ArrayBufferView): number {
  return lengthGetter.call(view) as number;
}

/** The real byte offset of a typed array into its buffer. */
export function viewOffset(view: ArrayBufferView): number {
  return offsetGetter.call(view) as number;
}

/** The real buffer behind a typed array. */
export function viewBuffer(view: ArrayBufferView): ArrayBufferLike {
  return bufferGetter.call(view) as ArrayBufferLike;
}

/** Whether the buffer behind `view` was transferred or detached. */
export function isDetached(view: ArrayBufferView): boolean {
  const buffer = bufferGetter.call(view);
  if (!isArrayBuffer(buffer)) return false;
  if (detachedGetter !== undefined) return detachedGetter.call(buffer) === true;
  // Engines without `detached`: a detached buffer reports length 0.
  return arrayBufferLength.call(buffer) === 0 &&
    lengthGetter.call(view) === 0 && offsetGetter.call(view) === 0;
}

/** Whether `buffer` is a fixed-length `ArrayBuffer` (its storage never moves). */
export function isFixedArrayBuffer(buffer: ArrayBufferLike): boolean {
  return isArrayBuffer(buffer) &&
    (resizableGetter === undefined || resizableGetter.call(buffer) !== true);
}

/** The real byte length of an `ArrayBuffer` or `SharedArrayBuffer`. */
export function bufferLength(buffer: ArrayBufferLike): number {
  return (isArrayBuffer(buffer)
    ? arrayBufferLength.call(buffer)
    : sharedLength!.call(buffer)) as number;
}

// The errors live apart, keeping checkedLength small enough for the engine
// to inline into a send or receive.

function notUint8Array(action: string): never {
  throw new TypeError(`${action}: expected a Uint8Array`);
}

function detached(action: string): never {
  throw new TypeError(
    `${action}: the buffer was detached (transferred); use a live Uint8Array`,
  );
}

/**
 * The real length of `value` after checking that it is a live `Uint8Array`
 * whose bytes lie inside its buffer.
 *
 * @throws {TypeError} if `value` is not a `Uint8Array`, or its buffer was
 * detached (transferred).
 */
export function checkedLength(value: unknown, action: string): number {
  if (!isUint8Array(value)) notUint8Array(action);
  const length = lengthGetter.call(value) as number;
  if (length === 0 && isDetached(value)) detached(action);
  return length;
}
