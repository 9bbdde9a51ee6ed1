/**
 * The randomized stress protocol, shared by the parent
 * (`stress_driver.ts`) and the child (`stress_child.ts`). Both derive every
 * step from the same seed, so the receiver knows what the sender sent (how
 * many fds, how many bytes, whether its buffer truncates a datagram) without
 * being told, and checks it independently.
 *
 * One message is in flight at a time: the parent sends a request, the child
 * echoes every fd back with a reply and then closes its copies. On stream
 * sockets fds attach to bytes, not to messages (semantics.md §3.3); with a
 * single frame in flight every fd a read returns belongs to that frame,
 * whatever the read sizes.
 *
 * Request: `u32 REQUEST, u32 seq, u32 fds, u32 payload` then `payload`
 * pattern bytes (or nothing at all: an empty datagram that carries only
 * fds). Each fd is the read end of its own pipe holding the 8-byte token
 * `u32 seq, u32 index`.
 * Reply: `u32 REPLY, u32 seq, u32 fds, u32 0` then the token read through
 * each received fd, in order, with those fds attached.
 *
 * @module
 */

import {
  type OwnedFd,
  SCM_MAX_FD,
  type SocketKind,
  type UnixSocket,
} from "../../mod.ts";
import { patternByte } from "./fault_common.ts";

export const REQUEST = 0xfd5e_0001;
export const REPLY = 0xfd5e_0002;
export const HEADER = 16;
export const TOKEN = 8;
export const KINDS: readonly SocketKind[] = ["stream", "dgram", "seqpacket"];

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [low, high]. */
export function between(rng: () => number, low: number, high: number): number {
  return low + Math.floor(rng() * (high - low + 1));
}

/** What both processes know about one step. */
export interface Step {
  readonly seq: number;
  readonly kind: SocketKind;
  /** Fds the request carries (0 to 253). */
  readonly fds: number;
  /** Pattern bytes after the header. */
  readonly payload: number;
  /** A datagram/seqpacket request of zero bytes that carries only fds. */
  readonly empty: boolean;
  /** Request bytes on the wire. */
  readonly total: number;
  /** The child's buffer when it is smaller than the request (else 0). */
  readonly truncateTo: number;
  readonly parentAsync: boolean;
  readonly childAsync: boolean;
}

/** Step `seq` of the run seeded with `seed`. */
export function planStep(seed: number, seq: number): Step {
  const rng = random(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ (seq + 1));
  const kind = KINDS[between(rng, 0, 2)]!;
  const f = rng();
  const fds = f < 0.3
    ? 0
    : f < 0.65
    ? between(rng, 1, 4)
    : f < 0.85
    ? between(rng, 5, 64)
    : f < 0.95
    ? between(rng, 65, SCM_MAX_FD - 1)
    : SCM_MAX_FD;
  const p = rng();
  let payload = p < 0.35
    ? between(rng, 0, 64)
    : p < 0.7
    ? between(rng, 65, 4096)
    : p < 0.92
    ? between(rng, 4097, 65536)
    : between(rng, 65537, 262144);
  // A datagram must fit the socket's send buffer (212992 bytes by default).
  if (kind !== "stream") payload = Math.min(payload, 65536);
  const empty = kind !== "stream" && fds > 0 && rng() < 0.06;
  const total = empty ? 0 : HEADER + payload;
  const truncateTo = kind !== "stream" && !empty && rng() < 0.1
    ? between(rng, 1, total - 1)
    : 0;
  return {
    seq,
    kind,
    fds,
    payload,
    empty,
    total,
    truncateTo,
    parentAsync: rng() < 0.5,
    childAsync: rng() < 0.5,
  };
}

/** The request bytes of `step`. */
export function requestBytes(step: Step): Uint8Array {
  const bytes = new Uint8Array(step.total);
  if (step.empty) return bytes;
  const view = new DataView(bytes.buffer);
  view.setUint32(0, REQUEST, true);
  view.setUint32(4, step.seq, true);
  view.setUint32(8, step.fds, true);
  view.setUint32(12, step.payload, true);
  for (let i = 0; i < step.payload; i++) {
    bytes[HEADER + i] = patternByte(step.seq, i);
  }
  return bytes;
}

/** Throws unless `bytes` is a prefix of request `step`. */
export function checkRequest(step: Step, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  const expected = requestBytes(step);
  if (bytes.length > expected.length) {
    throw new Error(
      `step ${step.seq}: ${bytes.length} bytes, expected at most ${expected.length}`,
    );
  }
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== expected[i]) {
      throw new Error(
        `step ${step.seq}: byte ${i} is ${bytes[i]}, expected ${expected[i]}`,
      );
    }
  }
}

/** The 8-byte token written into pipe `index` of step `seq`. */
export function token(seq: number, index: number): Uint8Array {
  const bytes = new Uint8Array(TOKEN);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, seq, true);
  view.setUint32(4, index, true);
  return bytes;
}

/** Splits `data` into 1 to 3 buffers (some may be empty) for a gathering send. */
export function split(
  rng: () => number,
  data: Uint8Array,
): Uint8Array | Uint8Array[] {
  const parts = between(rng, 1, 3);
  if (parts === 1) return data;
  const cuts = Array.from(
    { length: parts - 1 },
    () => between(rng, 0, data.length),
  ).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, data.length]) {
    out.push(data.subarray(from, cut));
    from = cut;
  }
  return out;
}

/** What {@linkcode receiveFrame} read. */
export interface Frame {
  readonly data: Uint8Array;
  readonly fds: OwnedFd[];
  readonly truncated: boolean;
  /** Receive calls made. */
  readonly reads: number;
}

/**
 * Views `length` bytes of `scratch` as one buffer or as 2 to 3 adjacent
 * pieces (a scattering receive), starting at `offset`.
 */
function targets(
  rng: () => number,
  scratch: Uint8Array,
  offset: number,
  length: number,
): Uint8Array | Uint8Array[] {
  const region = scratch.subarray(offset, offset + length);
  if (length < 2 || rng() < 0.7) return region;
  return split(rng, region);
}

/**
 * Receives one frame of `total` bytes carrying `fds` fds: on a stream, with
 * reads of random sizes until `total` bytes arrived; on a datagram or
 * seqpacket socket, with one receive into a buffer of `bufferSize` bytes.
 * `maxFds` is random but never below what is still due, and 0 once the fds
 * arrived, so a duplicated fd would surface as a ControlMessageError. Any
 * fd received is closed before an error propagates.
 */
export async function receiveFrame(
  socket: UnixSocket,
  options: {
    total: number;
    fds: number;
    bufferSize: number;
    async: boolean;
    rng: () => number;
    scratch: Uint8Array;
  },
): Promise<Frame> {
  const { total, fds: due, rng, scratch } = options;
  const fds: OwnedFd[] = [];
  let received = 0;
  let truncated = false;
  let reads = 0;
  try {
    do {
      let size: number;
      if (socket.kind === "stream") {
        const remaining = total - received;
        const r = rng();
        size = r < 0.15
          ? between(rng, 1, 16)
          : r < 0.4
          ? between(rng, 17, 1024)
          : r < 0.65
          ? between(rng, 1025, 65536)
          : r < 0.85
          ? remaining
          : remaining + between(rng, 1, 4096);
      } else {
        size = options.bufferSize;
      }
      const outstanding = due - fds.length;
      const maxFds = outstanding === 0
        ? 0
        : rng() < 0.3
        ? outstanding
        : between(rng, outstanding, SCM_MAX_FD);
      const into = targets(rng, scratch, received, size);
      reads++;
      const result = options.async
        ? await socket.receive(into, { maxFds })
        : socket.receiveSync(into, { maxFds });
      fds.push(...result.fds);
      if (result.eof) {
        throw new Error(
          `end of stream after ${received} of ${total} bytes (${socket.kind})`,
        );
      }
      received += result.bytes;
      truncated = result.truncated;
      if (socket.kind !== "stream") break;
    } while (received < total);
    return {
      data: scratch.slice(0, received),
      fds,
      truncated,
      reads,
    };
  } catch (error) {
    for (const fd of fds) fd.close();
    throw error;
  }
}
