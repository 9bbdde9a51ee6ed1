/**
 * Turns an adapter's raw symbols into the {@linkcode Libc} interface. Each
 * wrapper reads errno on the line after the call, before anything else runs.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import type { BlockingCalls, Libc, RuntimeName } from "./types.ts";
import { libcSymbols, type NeutralType } from "./symbols.ts";
import { viewLength } from "../platform/_views.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A bound C function as either runtime returns it. */
// deno-lint-ignore no-explicit-any
export type Native = (...args: any[]) => any;

/** 0: not an integer (not checked), 1: i32, 2: u32, 3: usize, 4: i64. */
const INTEGER_KIND: Record<NeutralType, number> = {
  i32: 1,
  u32: 2,
  usize: 3,
  i64: 4,
  buffer: 0,
  pointer: 0,
  void: 0,
};

const INTEGER_RANGE = [
  "",
  "-2147483648 to 2147483647",
  "0 to 4294967295",
  "0 to 2^53-1",
  "-(2^53-1) to 2^53-1",
];

/** Whether `value` is an integer that the declared `kind` holds exactly. */
function fits(kind: number, value: unknown): boolean {
  if (kind === 0) return true;
  if (kind === 1) return value === ((value as number) | 0);
  if (kind === 2) return value === ((value as number) >>> 0);
  if (kind === 4) return Number.isSafeInteger(value);
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function outOfRange(
  name: string,
  kinds: readonly number[],
  args: readonly unknown[],
): never {
  const at = args.findIndex((value, i) => !fits(kinds[i]!, value));
  const value = args[at];
  const message = `fdpass: argument ${
    at + 1
  } of ${name}() must be an integer from ${INTEGER_RANGE[kinds[at]!]}, got ${
    typeof value === "number" ? value : typeof value
  }`;
  throw typeof value === "number"
    ? new RangeError(message)
    : new TypeError(message);
}

/** Throws unless every integer argument fits its declared C type. */
type Check = (
  a?: unknown,
  b?: unknown,
  c?: unknown,
  d?: unknown,
  e?: unknown,
) => void;

/**
 * A check of every integer argument of `name` against its declared C type,
 * run by the wrapper before the call: each runtime's FFI would otherwise
 * throw its own error (Deno) or wrap the number silently (Bun), possibly
 * after earlier calls of the same operation already ran. A comparison or
 * two per argument. The check never calls the symbol itself: a call site
 * shared by every symbol would be megamorphic, and V8 then leaves Deno's
 * fast FFI path (measured: +0.6 µs a send/receive pair).
 */
function checker(name: string, types: readonly NeutralType[]): Check {
  const kinds = types.map((t) => INTEGER_KIND[t]);
  if (kinds.length > 5) {
    throw new Error(`fdpass: ${name} has ${kinds.length} parameters`);
  }
  const [k0 = 0, k1 = 0, k2 = 0, k3 = 0, k4 = 0] = kinds;
  return (a, b, c, d, e) => {
    if (
      fits(k0, a) && fits(k1, b) && fits(k2, c) && fits(k3, d) && fits(k4, e)
    ) return;
    outOfRange(name, kinds, [a, b, c, d, e]);
  };
}

const TWO_32 = 0x1_0000_0000;

/**
 * One `msghdr` and one `iovec` in a fixed buffer of fdpass's own, for the
 * calls that take a `size_t` length. Deno's FFI has no fast path for a
 * 64-bit integer parameter: such a call takes the slow path, about 250 ns
 * more a call on the measuring VM (a `bcmp` bound with a `usize` length:
 * 300 ns, with `i32`: 58 ns). So in Deno `read`, `write`, `recv` and `send`
 * go through `readv`, `writev`, `recvmsg` and `sendmsg`, whose parameters
 * are all fast, with the buffer's address and length written here: the
 * same calls to the kernel. Calls are synchronous, so one scratch serves
 * every call of a binding.
 */
class Vector {
  /** The `msghdr` (name, control and flags stay 0). */
  readonly msghdr: Uint8Array;
  /** The one `iovec`, which `msg_iov` points at. */
  readonly iovec: Uint8Array;
  readonly #u32: Uint32Array;
  readonly #word: number;
  readonly #address: (view: ArrayBufferView) => number;

  constructor(
    platform: PlatformLayout,
    address: (view: ArrayBufferView) => number,
  ) {
    const m = platform.msghdr;
    // A fresh ArrayBuffer: its storage never moves.
    const bytes = new Uint8Array(new ArrayBuffer(64 + platform.iovecSize));
    this.msghdr = bytes.subarray(0, m.size);
    this.iovec = bytes.subarray(64);
    this.#u32 = new Uint32Array(bytes.buffer);
    this.#word = 64 / 4;
    this.#address = address;
    this.#write(m.iov / 4, address(bytes) + 64);
    this.#u32[m.iovlen / 4] = 1;
  }

  /**
   * Points the iovec at the first `length` bytes of `view`. Its length is
   * read here, as `address` requires: `length` is the caller's, and a view
   * detached since then gets no address (the kernel answers EFAULT).
   */
  point(view: Uint8Array, length: number): void {
    this.#write(
      this.#word,
      length === 0 || viewLength(view) === 0 ? 0 : this.#address(view),
    );
    this.#write(this.#word + 2, length);
  }

  #write(word: number, value: number): void {
    // A Uint32Array keeps a number modulo 2^32, its fraction dropped
    // (ToUint32): the low word is the value itself, the high its quotient.
    const u32 = this.#u32;
    u32[word] = value;
    u32[word + 1] = value / TWO_32;
  }
}

/** Builds the {@linkcode Libc} interface over raw `symbols`. */
export function bindLibc(
  runtime: RuntimeName,
  platform: PlatformLayout,
  symbols: Record<string, Native>,
  readErrno: () => number,
  address: (view: ArrayBufferView) => number,
  blocking: (lib: Libc) => BlockingCalls,
  environment: (name: string) => string | undefined,
  mainThread: boolean,
): Libc {
  const s = symbols;
  const check: Record<string, Check> = {};
  for (const [key, spec] of Object.entries(libcSymbols(platform.os))) {
    check[key] = checker(spec.name ?? key, spec.parameters);
  }
  const { socket, socketpair, bind, listen, accept, connect, sendmsg } = s;
  const { recvmsg, close, shutdown, getsockopt, setsockopt } = s;
  const { getsockname, getpeername, fcntl, read, write, pipe, poll } = s;
  const { ioctl } = s;
  const {
    unlink,
    chmod,
    getpid,
    getenv,
    unsetenv,
    strlen,
    copyFrom,
    schedYield,
    epollCreate,
    epollCtl,
    epollWait,
    eventfd,
    fstatat,
    dup,
    dup2,
    dup3,
  } = s;
  const { recv, send, pread, pwrite, lseek, ftruncate, fstat, memfdCreate } = s;
  const { readv, writev } = s;
  const v = runtime === "deno" ? new Vector(platform, address) : undefined;
  const darwin = platform.os === "darwin";
  let calls: BlockingCalls | undefined;
  const lib: Libc = {
    runtime,
    platform,
    mainThread,
    address,
    socket: (d, t, p) => {
      check["socket"]!(d, t, p);
      const r = socket!(d, t, p);
      return r < 0 ? -readErrno() : r;
    },
    socketpair: (d, t, p, fds) => {
      check["socketpair"]!(d, t, p, fds);
      const r = socketpair!(d, t, p, fds);
      return r < 0 ? -readErrno() : r;
    },
    bind: (fd, a, l) => {
      check["bind"]!(fd, a, l);
      const r = bind!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    listen: (fd, b) => {
      check["listen"]!(fd, b);
      const r = listen!(fd, b);
      return r < 0 ? -readErrno() : r;
    },
    accept: (fd, flags) => {
      // macOS has no accept4; its sockets get no atomic close-on-exec.
      check["accept"]!(fd, null, null, darwin ? undefined : flags);
      const r = darwin
        ? accept!(fd, null, null)
        : accept!(fd, null, null, flags);
      return r < 0 ? -readErrno() : r;
    },
    connect: (fd, a, l) => {
      check["connect"]!(fd, a, l);
      const r = connect!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    // The hot calls test their i32 arguments inline and leave the general
    // check (which reports the error) to a failure: it is one call more
    // than V8 will inline into a send or receive (+2-3 % a Deno sync pair).
    sendmsg: (fd, m, f) => {
      if (fd !== (fd | 0) || f !== (f | 0)) check["sendmsg"]!(fd, m, f);
      const r = sendmsg!(fd, m, f);
      return r < 0 ? -readErrno() : r;
    },
    recvmsg: (fd, m, f) => {
      if (fd !== (fd | 0) || f !== (f | 0)) check["recvmsg"]!(fd, m, f);
      const r = recvmsg!(fd, m, f);
      return r < 0 ? -readErrno() : r;
    },
    close: (fd) => {
      if (fd !== (fd | 0)) check["close"]!(fd);
      const r = close!(fd);
      return r < 0 ? -readErrno() : r;
    },
    shutdown: (fd, how) => {
      check["shutdown"]!(fd, how);
      const r = shutdown!(fd, how);
      return r < 0 ? -readErrno() : r;
    },
    getsockopt: (fd, level, name, value, length) => {
      check["getsockopt"]!(fd, level, name, value, length);
      const r = getsockopt!(fd, level, name, value, length);
      return r < 0 ? -readErrno() : r;
    },
    setsockopt: (fd, level, name, value, length) => {
      check["setsockopt"]!(fd, level, name, value, length);
      const r = setsockopt!(fd, level, name, value, length);
      return r < 0 ? -readErrno() : r;
    },
    getsockname: (fd, a, l) => {
      check["getsockname"]!(fd, a, l);
      const r = getsockname!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    getpeername: (fd, a, l) => {
      check["getpeername"]!(fd, a, l);
      const r = getpeername!(fd, a, l);
      return r < 0 ? -readErrno() : r;
    },
    fcntl: (fd, c, a) => {
      check["fcntl"]!(fd, c, a);
      const r = fcntl!(fd, c, a);
      return r < 0 ? -readErrno() : r;
    },
    ioctl: (fd, request) => {
      check["ioctl"]!(fd, request);
      const r = ioctl!(fd, request);
      return r < 0 ? -readErrno() : r;
    },
    read: v === undefined
      ? (fd, b, l) => {
        check["read"]!(fd, b, l);
        const r = read!(fd, b, l);
        return r < 0 ? -readErrno() : r;
      }
      : (fd, b, l) => {
        check["read"]!(fd, b, l);
        v.point(b, l);
        const r = readv!(fd, v.iovec, 1);
        return r < 0 ? -readErrno() : r;
      },
    write: v === undefined
      ? (fd, b, l) => {
        check["write"]!(fd, b, l);
        const r = write!(fd, b, l);
        return r < 0 ? -readErrno() : r;
      }
      : (fd, b, l) => {
        check["write"]!(fd, b, l);
        v.point(b, l);
        const r = writev!(fd, v.iovec, 1);
        return r < 0 ? -readErrno() : r;
      },
    recv: v === undefined
      ? (fd, b, l, f) => {
        check["recv"]!(fd, b, l, f);
        const r = recv!(fd, b, l, f);
        return r < 0 ? -readErrno() : r;
      }
      : (fd, b, l, f) => {
        check["recv"]!(fd, b, l, f);
        v.point(b, l);
        const r = recvmsg!(fd, v.msghdr, f);
        return r < 0 ? -readErrno() : r;
      },
    send: v === undefined
      ? (fd, b, l, f) => {
        check["send"]!(fd, b, l, f);
        const r = send!(fd, b, l, f);
        return r < 0 ? -readErrno() : r;
      }
      : (fd, b, l, f) => {
        check["send"]!(fd, b, l, f);
        v.point(b, l);
        const r = sendmsg!(fd, v.msghdr, f);
        return r < 0 ? -readErrno() : r;
      },
    pread: (fd, b, l, o) => {
      check["pread"]!(fd, b, l, o);
      const r = pread!(fd, b, l, o);
      return r < 0 ? -readErrno() : r;
    },
    pwrite: (fd, b, l, o) => {
      check["pwrite"]!(fd, b, l, o);
      const r = pwrite!(fd, b, l, o);
      return r < 0 ? -readErrno() : r;
    },
    lseek: (fd, o, w) => {
      // off_t comes back as a BigInt in Bun (and in Deno past 2^53).
      check["lseek"]!(fd, o, w);
      const r = Number(lseek!(fd, o, w));
      return r < 0 ? -readErrno() : r;
    },
    ftruncate: (fd, l) => {
      check["ftruncate"]!(fd, l);
      const r = ftruncate!(fd, l);
      return r < 0 ? -readErrno() : r;
    },
    fstat: (fd, b) => {
      if (typeof fstat !== "function") return -platform.errno.ENOSYS;
      check["fstat"]!(fd, b);
      const r = fstat(fd, b);
      return r < 0 ? -readErrno() : r;
    },
    memfdCreate: (name, flags) => {
      if (typeof memfdCreate !== "function") return -platform.errno.ENOSYS;
      check["memfdCreate"]!(name, flags);
      const r = memfdCreate(name, flags);
      return r < 0 ? -readErrno() : r;
    },
    pipe: (fds, flags) => {
      check["pipe"]!(fds, darwin ? undefined : flags);
      const r = darwin ? pipe!(fds) : pipe!(fds, flags);
      return r < 0 ? -readErrno() : r;
    },
    poll: (fds, n, t) => {
      check["poll"]!(fds, n, t);
      const r = poll!(fds, n, t);
      return r < 0 ? -readErrno() : r;
    },
    unlink: (p) => {
      check["unlink"]!(p);
      const r = unlink!(p);
      return r < 0 ? -readErrno() : r;
    },
    chmod: (p, mode) => {
      check["chmod"]!(p, mode);
      const r = chmod!(p, mode);
      return r < 0 ? -readErrno() : r;
    },
    getpid: () => getpid!(),
    getenv: (name) => {
      // Read through libc (strlen, memcpy), not the runtime's pointer view,
      // which Deno refuses under a scoped --allow-ffi=PATH.
      const pointer = getenv!(encoder.encode(`${name}\0`));
      if (pointer === null || pointer === 0 || pointer === 0n) return undefined;
      const length = Number(strlen!(pointer));
      const bytes = new Uint8Array(length);
      if (length > 0) copyFrom!(bytes, pointer, length);
      return decoder.decode(bytes);
    },
    unsetenv: (name) => {
      const r = unsetenv!(encoder.encode(`${name}\0`));
      return r < 0 ? -readErrno() : r;
    },
    schedYield: () => schedYield!(),
    epollCreate: (flags) => {
      check["epollCreate"]!(flags);
      const r = epollCreate!(flags);
      return r < 0 ? -readErrno() : r;
    },
    epollCtl: (epfd, op, fd, event) => {
      check["epollCtl"]!(epfd, op, fd, event);
      const r = epollCtl!(epfd, op, fd, event);
      return r < 0 ? -readErrno() : r;
    },
    epollWait: (epfd, events, max, timeout) => {
      check["epollWait"]!(epfd, events, max, timeout);
      const r = epollWait!(epfd, events, max, timeout);
      return r < 0 ? -readErrno() : r;
    },
    eventfd: (initial, flags) => {
      check["eventfd"]!(initial, flags);
      const r = eventfd!(initial, flags);
      return r < 0 ? -readErrno() : r;
    },
    dup: (fd) => {
      check["dup"]!(fd);
      const r = dup!(fd);
      return r < 0 ? -readErrno() : r;
    },
    dup2: (fd, newfd) => {
      check["dup2"]!(fd, newfd);
      const r = dup2!(fd, newfd);
      return r < 0 ? -readErrno() : r;
    },
    dup3: (fd, newfd, flags) => {
      check["dup3"]!(fd, newfd, flags);
      const r = dup3!(fd, newfd, flags);
      return r < 0 ? -readErrno() : r;
    },
    fstatat: (path, stat) => {
      const f = platform.fileStat!;
      check["fstatat"]!(
        f.syscall,
        f.AT_FDCWD,
        path,
        stat,
        f.AT_SYMLINK_NOFOLLOW,
      );
      const r = fstatat!(
        f.syscall,
        f.AT_FDCWD,
        path,
        stat,
        f.AT_SYMLINK_NOFOLLOW,
      );
      return r < 0 ? -readErrno() : r;
    },
    environment,
    blocking: () => calls ??= blocking(lib),
  };
  return lib;
}
