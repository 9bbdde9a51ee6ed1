// The raw FFI floor's bindings, shared by raw_ffi.ts and pingpong_paired.ts:
// libc bound straight through bun:ffi or Deno.dlopen, and msghdrs built up
// front. Imports nothing from fdpass.
// deno-lint-ignore-file no-explicit-any
type Call = (...args: any[]) => any;
export type Symbols = Record<keyof typeof DEFS, Call>;

const deno = (globalThis as { Deno?: any }).Deno;

const DEFS = {
  socket: [["i32", "i32", "i32"], "i32"],
  socketpair: [["i32", "i32", "i32", "buffer"], "i32"],
  connect: [["i32", "buffer", "u32"], "i32"],
  sendmsg: [["i32", "buffer", "i32"], "i64"],
  recvmsg: [["i32", "buffer", "i32"], "i64"],
  close: [["i32"], "i32"],
  open: [["buffer", "i32"], "i32"],
  sched_yield: [[], "i32"],
} as const;

async function bind(): Promise<
  { s: Symbols; address: (b: Uint8Array) => bigint }
> {
  if ("Bun" in globalThis) {
    const ffi = await import("bun:ffi");
    const defs: Record<string, { args: string[]; returns: string }> = {};
    for (const [name, [p, r]] of Object.entries(DEFS)) {
      defs[name] = {
        args: p.map((t) => (t === "buffer" ? "ptr" : t)),
        returns: r,
      };
    }
    const lib = ffi.dlopen("libc.so.6", defs as any);
    return {
      s: lib.symbols as unknown as Symbols,
      address: (b) => BigInt(ffi.ptr(b)),
    };
  }
  const defs: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, [p, r]] of Object.entries(DEFS)) {
    defs[name] = { parameters: [...p], result: r };
  }
  const lib = deno.dlopen("libc.so.6", defs);
  return {
    s: lib.symbols,
    address: (b) => BigInt(deno.UnsafePointer.value(deno.UnsafePointer.of(b))),
  };
}

export const { s, address } = await bind();
export const MSG_NOSIGNAL = 0x4000;
export const MSG_DONTWAIT = 0x40;
export const MSG_CMSG_CLOEXEC = 0x40000000;

export interface Message {
  bytes: Uint8Array;
  words: BigUint64Array;
  i32: Int32Array;
  controlBytes: number;
  data: Uint8Array;
}

/** A msghdr (56 B) + iovec (16 B) + control buffer, all in one allocation. */
export function message(data: Uint8Array, maxFds: number): Message {
  const controlBytes = maxFds === 0 ? 0 : 16 + ((4 * maxFds + 7) & ~7);
  const bytes = new Uint8Array(72 + controlBytes);
  const words = new BigUint64Array(bytes.buffer);
  const base = address(bytes);
  words[2] = base + 56n; // msg_iov
  words[3] = 1n; // msg_iovlen
  words[7] = address(data); // iov_base
  words[8] = BigInt(data.length); // iov_len
  if (controlBytes > 0) words[4] = base + 72n; // msg_control
  const i32 = new Int32Array(bytes.buffer);
  return { bytes, words, i32, controlBytes, data };
}

export function rights(m: Message, fd: number, count: number): void {
  m.words[5] = BigInt(m.controlBytes);
  m.words[9] = BigInt(16 + 4 * count); // cmsg_len
  m.i32[20] = 1; // SOL_SOCKET
  m.i32[21] = 1; // SCM_RIGHTS
  for (let i = 0; i < count; i++) m.i32[22 + i] = fd;
}

/** `/dev/null`, opened read-only: the descriptor every message carries. */
export function openDevNull(): number {
  return s.open(new TextEncoder().encode("/dev/null\0"), 0) as number;
}

/** A stream socket connected to `path`, close-on-exec. */
export function connectStream(path: string): number {
  const name = new TextEncoder().encode(path);
  const fd = s.socket(1, 1 | 0o2000000, 0) as number;
  const address = new Uint8Array(110);
  address[0] = 1; // AF_UNIX
  address.set(name, 2);
  if (s.connect(fd, address, 2 + name.length + 1) !== 0) {
    throw new Error("connect failed");
  }
  return fd;
}

/**
 * The floor's ping-pong client on a connected stream socket `fd`: each round
 * trip sends 64 B + `devnull` without blocking, then yields the CPU and
 * receives (MSG_DONTWAIT) until the 64 B are back, closing the fd that came
 * with them; never blocking in recvmsg, as an async library cannot hold the
 * event loop. `awaiting` adds one `await` of a resolved promise after each
 * syscall (the await floor). The returned function runs `rounds` round
 * trips, pushing each one's ns to `rtt` when given.
 */
export function rawPingPong(
  fd: number,
  devnull: number,
  awaiting: boolean,
): (rounds: number, rtt?: number[]) => Promise<void> {
  const out = message(new Uint8Array(64).fill(0x70), 1);
  const into = message(new Uint8Array(64), 1);
  rights(out, devnull, 1);
  const resolved = Promise.resolve();
  return async (rounds, rtt) => {
    for (let i = 0; i < rounds; i++) {
      const t0 = rtt === undefined ? 0 : performance.now();
      s.sendmsg(fd, out.bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (awaiting) await resolved;
      let got = 0;
      while (got < 64) {
        s.sched_yield();
        into.words[5] = BigInt(into.controlBytes);
        const r = Number(
          s.recvmsg(fd, into.bytes, MSG_CMSG_CLOEXEC | MSG_DONTWAIT),
        );
        if (awaiting) await resolved;
        if (r < 0) continue;
        if (into.words[5]! > 0n) s.close(into.i32[22]!);
        got += r;
      }
      rtt?.push(Math.round((performance.now() - t0) * 1e6));
    }
  };
}

/** The sync loops' messages: `size` bytes with `count` copies of `devnull`. */
function syncMessages(
  devnull: number,
  size: number,
  count: number,
): { out: Message; into: Message } {
  const out = message(new Uint8Array(size).fill(0x78), count);
  const into = message(new Uint8Array(size), count);
  if (count > 0) rights(out, devnull, count);
  return { out, into };
}

/**
 * The floor's sync loop on a connected stream pair `tx` → `rx`: each pair
 * sends `size` bytes with `count` copies of `devnull`, then receives (in a
 * blocking `recvmsg`) until the bytes are back, closing the fds that came.
 * The returned function runs `pairs` pairs.
 */
export function rawSyncLoop(
  tx: number,
  rx: number,
  devnull: number,
  size: number,
  count: number,
): (pairs: number) => void {
  const { out, into } = syncMessages(devnull, size, count);
  return (pairs) => {
    for (let i = 0; i < pairs; i++) {
      s.sendmsg(tx, out.bytes, MSG_NOSIGNAL);
      let got = 0;
      while (got < size) {
        into.words[5] = BigInt(into.controlBytes);
        got += Number(s.recvmsg(rx, into.bytes, MSG_CMSG_CLOEXEC));
        if (into.words[5]! > 0n) {
          const received = (Number(into.words[9]!) - 16) >> 2;
          for (let j = 0; j < received; j++) s.close(into.i32[22 + j]!);
        }
      }
    }
  };
}

/**
 * The least an owner object can be: one private number, closed once. The
 * owning floor gives each received descriptor one, as any API that hands
 * out owned descriptors must.
 */
class RawOwner {
  #fd: number;
  constructor(fd: number) {
    this.#fd = fd;
  }
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    s.close(fd);
  }
}

/**
 * The owning floor: {@linkcode rawSyncLoop}'s syscalls, with what any API
 * that returns owned descriptors must allocate on top (a result object, a
 * fresh array, one {@linkcode RawOwner} per descriptor) and the caller's
 * loop closing each through it, as fdpass's bench loop does. No checks:
 * between this and the floor lies what the objects cost (in Bun, mostly the
 * garbage collector, which the floor never runs); between fdpass and this,
 * fdpass's own checks.
 */
export function owningSyncLoop(
  ...args: Parameters<typeof rawSyncLoop>
): (pairs: number) => void {
  const [tx, rx, devnull, size, count] = args;
  const { out, into } = syncMessages(devnull, size, count);
  const receive = () => {
    into.words[5] = BigInt(into.controlBytes);
    const bytes = Number(s.recvmsg(rx, into.bytes, MSG_CMSG_CLOEXEC));
    let fds: RawOwner[] = [];
    if (into.words[5]! > 0n) {
      const received = (Number(into.words[9]!) - 16) >> 2;
      fds = new Array(received);
      for (let j = 0; j < received; j++) {
        fds[j] = new RawOwner(into.i32[22 + j]!);
      }
    }
    return { bytes, fds, truncated: false, eof: bytes === 0 };
  };
  return (pairs) => {
    for (let i = 0; i < pairs; i++) {
      s.sendmsg(tx, out.bytes, MSG_NOSIGNAL);
      let got = 0;
      while (got < size) {
        const r = receive();
        for (const fd of r.fds) fd.close();
        if (r.eof) throw new Error("unexpected end of stream");
        got += r.bytes;
      }
    }
  };
}

/** A connected stream socket pair, close-on-exec: [tx, rx]. */
export function rawStreamPair(): [number, number] {
  const fds = new Int32Array(2);
  s.socketpair(1, 1 | 0o2000000, 0, new Uint8Array(fds.buffer));
  return [fds[0]!, fds[1]!];
}
