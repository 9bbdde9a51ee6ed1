/**
 * The `Deno.dlopen` adapter. Declares the few Deno FFI types it uses itself,
 * so the package type-checks under Bun's types too.
 *
 * @module
 */

import type { PlatformLayout } from "../platform/types.ts";
import { FfiUnavailableError } from "./errors.ts";
import { libcNames, libcSymbols, type NeutralType } from "./symbols.ts";
import type { BlockingCalls, Libc } from "./types.ts";
import { bindLibc, type Native } from "./_bind.ts";
import {
  isFixedArrayBuffer,
  viewBuffer,
  viewOffset,
} from "../platform/_views.ts";

type Pointer = object | null;

interface DenoFfi {
  dlopen(
    path: string,
    symbols: Record<string, unknown>,
  ): { symbols: Record<string, Native> };
  permissions: {
    querySync(
      descriptor: { name: "ffi"; path?: string } | {
        name: "env";
        variable: string;
      },
    ): { state: string };
  };
  UnsafePointer: {
    of(view: ArrayBufferView): Pointer;
    value(pointer: Pointer): number | bigint;
  };
  env: { get(name: string): string | undefined };
  UnsafePointerView: new (
    pointer: object,
  ) => { getInt32(offset: number): number };
}

const bases = new WeakMap<ArrayBuffer, number>();
// The two most recent hits, held strongly (two buffers kept alive at most).
let recent0: ArrayBuffer | undefined;
let recentBase0 = 0;
let recent1: ArrayBuffer | undefined;
let recentBase1 = 0;
// The two views last located on a fixed-length ArrayBuffer, and their
// addresses (two views kept alive at most).
let view0: ArrayBufferView | undefined;
let viewAddress0 = 0;
let view1: ArrayBufferView | undefined;
let viewAddress1 = 0;

const DENO_TYPES: Record<NeutralType, string> = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  i64: "i64",
  buffer: "buffer",
  pointer: "pointer",
  void: "void",
};

function isPermissionError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "NotCapable" || name === "PermissionDenied";
}

/**
 * Opens the first of `names` that loads. Those the permissions allow come
 * first: a sandbox run with `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`
 * allows that one path as written, and opening any other would throw (or
 * prompt). Without any, the first refusal says what to allow.
 */
function openLibrary(
  deno: DenoFfi,
  names: readonly string[],
  table: Record<string, unknown>,
): Record<string, Native> {
  const granted = names.filter((path) =>
    deno.permissions.querySync({ name: "ffi", path }).state === "granted"
  );
  let lastError: unknown;
  const order = [...granted, ...names.filter((n) => !granted.includes(n))];
  for (const name of order) {
    try {
      return deno.dlopen(name, table).symbols;
    } catch (error) {
      if (isPermissionError(error)) {
        const [first, ...others] = names.filter((n) => n.startsWith("/"));
        const elsewhere = others.length === 0
          ? ""
          : ` if the C library is there (else one of ${others.join(", ")})`;
        throw new FfiUnavailableError(
          `fdpass needs FFI access to the C library: run Deno with --allow-ffi, or with only --allow-ffi=${first}${elsewhere}; it needs no other permission`,
          { cause: error },
        );
      }
      lastError = error;
    }
  }
  throw new FfiUnavailableError(
    `fdpass could not load the C library (tried ${names.join(", ")})`,
    { cause: lastError },
  );
}

/** How the adapter learns a buffer's address and reads errno. */
interface PointerAccess {
  locate(view: ArrayBufferView): number;
  readErrno(): number;
}

/**
 * `Deno.UnsafePointer` and `UnsafePointerView` need the unscoped
 * `--allow-ffi`; under `--allow-ffi=PATH` only calls into the library are
 * allowed, so libc itself answers: `memmove(p, p, 0)` returns `p`, and
 * `memcpy` copies errno out through its pointer (it never sets errno).
 */
function pointerAccess(
  deno: DenoFfi,
  symbols: Record<string, Native>,
  errnoPointer: Pointer,
): PointerAccess {
  if (deno.permissions.querySync({ name: "ffi" }).state === "granted") {
    const errnoView = new deno.UnsafePointerView(errnoPointer!);
    return {
      locate: (view) =>
        Number(deno.UnsafePointer.value(deno.UnsafePointer.of(view))),
      readErrno: () => errnoView.getInt32(0),
    };
  }
  const addressOf = symbols["addressOf"]!;
  const copyFrom = symbols["copyFrom"]!;
  const errno = new Int32Array(1);
  return {
    locate: (view) => Number(addressOf(view, view, 0)),
    readErrno: () => {
      copyFrom(errno, errnoPointer, 4);
      return errno[0]!;
    },
  };
}

/** Binds libc through `Deno.dlopen`. */
export function openDenoLibc(platform: PlatformLayout): Libc {
  const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const table: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(libcSymbols(platform.os))) {
    table[key] = {
      name: spec.name ?? key,
      parameters: spec.parameters.map((t) => DENO_TYPES[t]),
      result: DENO_TYPES[spec.result],
      nonblocking: spec.nonblocking ?? false,
      optional: spec.optional ?? false,
    };
  }
  const symbols = openLibrary(
    deno,
    libcNames(platform.os, platform.arch),
    table,
  );
  const errnoPointer = symbols["errno"]!() as Pointer;
  if (errnoPointer === null) {
    throw new FfiUnavailableError("fdpass could not locate errno");
  }
  const pointers = pointerAccess(deno, symbols, errnoPointer);
  const locate = pointers.locate;
  return bindLibc(
    "deno",
    platform,
    symbols,
    pointers.readErrno,
    // A send and a receive loop alternate between two views. A view's
    // buffer and offset never change, and the storage of a fixed-length
    // ArrayBuffer never moves (detaching it empties the view, which its
    // caller would have seen): the same view is at the same address, and
    // knowing it saves reading its buffer and offset again (~25 ns in V8).
    // The hit alone is small enough for V8 to inline into a send or a
    // receive (with the lookup in it, V8 called it: ~55 instructions a
    // pair); the lookup is apart.
    (view) =>
      view === view0
        ? viewAddress0
        : view === view1
        ? viewAddress1
        : lookUp(view),
    (lib) => denoBlockingCalls(symbols, (fd) => lib.close(fd), lib.mainThread),
    (name) => denoEnvironment(deno, name),
    // Deno defines WorkerGlobalScope in Workers only.
    typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope ===
      "undefined",
  );

  /** The address of a view other than the last two. */
  function lookUp(view: ArrayBufferView): number {
    // Offset and buffer come from the engine's own getters: the view's
    // properties can be shadowed and would feed the address. The caller
    // just read a length above 0 the same way (see Libc.address).
    // Looking the address up costs ~300 ns (a BigInt round trip); a
    // fixed-length ArrayBuffer's storage never moves, so remember it.
    // Reading the buffer first moves a small on-heap array off the heap.
    const buffer = viewBuffer(view);
    // Views made afresh (subarrays) over the last two buffers: found
    // without a WeakMap lookup (~50 ns each in V8).
    let base: number | undefined;
    if (buffer === recent0) base = recentBase0;
    else if (buffer === recent1) base = recentBase1;
    else {
      base = bases.get(buffer as ArrayBuffer);
      if (base === undefined) {
        const here = locate(view);
        if (!isFixedArrayBuffer(buffer)) return here;
        base = here - viewOffset(view);
        bases.set(buffer as ArrayBuffer, base);
      }
      recent1 = recent0;
      recentBase1 = recentBase0;
      recent0 = buffer as ArrayBuffer;
      recentBase0 = base;
    }
    const address = base + viewOffset(view);
    view1 = view0;
    viewAddress1 = viewAddress0;
    view0 = view;
    viewAddress0 = address;
    return address;
  }
}

/** The longest one blocking call runs (see {@linkcode denoBlockingCalls}). */
const POLL_BOUND_MS = 1000;

/**
 * Reads `name` only where that needs no prompt: without `--allow-env` (for
 * it) the answer is `undefined`, as if it were unset.
 */
function denoEnvironment(deno: DenoFfi, name: string): string | undefined {
  try {
    const status = deno.permissions.querySync({
      name: "env",
      variable: name,
    });
    if (status?.state !== "granted") return undefined;
    return deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The blocking calls as `nonblocking` FFI symbols on Deno's blocking pool.
 * Each pending call is a ref'd op, so the process stays alive exactly while
 * one is outstanding. Its errno lives on the pool thread and is lost.
 */
function denoBlockingCalls(
  symbols: Record<string, Native>,
  closeNow: (fd: number) => void,
  mainThread: boolean,
): BlockingCalls {
  const pollAsync = symbols["pollAsync"]!;
  /** The outstanding call, until it settles. */
  let inFlight: Promise<number> | undefined;
  return {
    poll(fds, count): Promise<number> {
      const call = pollAsync(fds, count, POLL_BOUND_MS) as Promise<number>;
      inFlight = call;
      const settled = (): void => {
        if (inFlight === call) inFlight = undefined;
      };
      call.then(settled, settled);
      return call;
    },
    // The pool thread cannot be asked whether it has entered poll(2) yet.
    // On the main thread the read end stays open until the call settles:
    // its write end is closed, so the poll answers POLLHUP at once whenever
    // the thread gets to it, and never watches a reused number. A Worker
    // that ends never runs JS again, so there it is closed now; a call not
    // yet in poll(2) then watches whatever took the number, until its bound
    // (a second) ends it: a delay of the next call at most, never a hang
    // (its result is dropped as stale).
    closeAfterCall(fd): void {
      if (!mainThread || inFlight === undefined) return closeNow(fd);
      const close = (): void => closeNow(fd);
      inFlight.then(close, close);
    },
  };
}
