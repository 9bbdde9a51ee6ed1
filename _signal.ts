/**
 * Internal: the one check that an option really is an `AbortSignal`, and
 * the only way fdpass reads one afterwards. A real signal can still carry
 * own properties (`aborted`, `reason`, `addEventListener`) that run the
 * caller's code; fdpass always goes through the engine's own accessors and
 * methods, so no user code runs between a descriptor's check and its use.
 * Those accessors walk the prototype chain to check the brand (Deno), so a
 * signal is taken only with the prototype the engine gave it, and a signal
 * checked once is known by identity afterwards (a check that runs nothing).
 *
 * @module
 */

const signals = AbortSignal.prototype;
const abortedGetter = Object.getOwnPropertyDescriptor(signals, "aborted")?.get;
const reasonGetter = Object.getOwnPropertyDescriptor(signals, "reason")?.get;
// Looked up through AbortSignal.prototype, not EventTarget's: Deno's own
// versions there ref and unref an AbortSignal.timeout() timer as listeners
// come and go, and skipping them can keep a process alive until it fires.
const { addEventListener, removeEventListener } = signals;
const ONCE = { once: true } as const;
/** Signals {@linkcode checkSignal} accepted. */
const checked = new WeakSet<AbortSignal>();

/**
 * @internal `signal` after checking it really is an `AbortSignal` (its own
 * `aborted` getter accepts it), so that a controller or a look-alike passed
 * by mistake fails here, before anything happens, and never half way.
 */
export function checkSignal(
  signal: unknown,
  action: string,
): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  // Exactly the engine's prototype: a proxy or another object in the chain
  // would run the caller's code each time the engine checks the brand.
  // A signal seen before is known by identity, and reading its prototype
  // slot runs nothing either (Channel checks a signal, then its socket
  // checks it again after the frame's header is written); one whose
  // prototype was changed since is refused here with fdpass's TypeError,
  // not inside the engine later.
  if (checked.has(signal as AbortSignal)) {
    if (usable(signal as AbortSignal)) return signal as AbortSignal;
    throw changed();
  }
  let real = signal instanceof AbortSignal &&
    Object.getPrototypeOf(signal) === signals;
  if (real && abortedGetter !== undefined) {
    try {
      abortedGetter.call(signal);
    } catch {
      real = false;
    }
  }
  if (!real) throw notASignal(action);
  checked.add(signal as AbortSignal);
  return signal as AbortSignal;
}

function notASignal(action: string): TypeError {
  return new TypeError(
    `${action}: signal must be an AbortSignal (pass controller.signal, not the controller) with its own prototype`,
  );
}

// A signal whose prototype was changed after its check (while a call
// waited) is never handed to the engine again: its accessors would walk the
// new chain (Deno's brand check), running the caller's traps inside fdpass,
// or fail. Such a signal, and one the engine refused for any other reason,
// counts as aborted with a TypeError as its reason, and isAborted and
// abortReason always agree on it, so a call rejects with that TypeError
// instead of hanging or rejecting with a never-aborted signal's `undefined`.

/** Signals the engine refused once: aborted for good, with {@linkcode changed}. */
const refused = new WeakSet<AbortSignal>();

/**
 * Whether the engine's accessors may be used on a checked `signal`. Reading
 * a real signal's prototype slot runs nothing; on a `Proxy` around one
 * (which Deno's brand check accepts) it runs a trap, which may throw. A
 * signal found changed once stays refused, so putting its prototype back
 * cannot make two reads disagree.
 */
function usable(signal: AbortSignal): boolean {
  if (refused.has(signal)) return false;
  try {
    if (Object.getPrototypeOf(signal) === signals) return true;
  } catch {
    // A trap threw: refused as well.
  }
  refused.add(signal);
  return false;
}

/** @internal Whether a checked `signal` has aborted (never a user getter). */
export function isAborted(signal: AbortSignal | undefined): boolean {
  if (signal === undefined) return false;
  if (!usable(signal)) return true;
  try {
    return (abortedGetter === undefined
      ? signal.aborted
      : abortedGetter.call(signal)) === true;
  } catch {
    refused.add(signal);
    return true;
  }
}

/** @internal The reason a checked `signal` aborted with. */
export function abortReason(signal: AbortSignal): unknown {
  if (!usable(signal)) return changed();
  try {
    return reasonGetter === undefined
      ? signal.reason
      : reasonGetter.call(signal);
  } catch {
    refused.add(signal);
    return changed();
  }
}

function changed(): TypeError {
  return new TypeError(
    "fdpass: the signal's prototype was changed while a call used it (or the engine refused the signal); the call is cancelled",
  );
}

/** @internal Throws the reason if a checked `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (isAborted(signal)) throw abortReason(signal!);
}

/**
 * @internal Calls `listener` once when a checked `signal` aborts (in a
 * microtask if fdpass or the engine no longer takes the signal).
 */
export function onAbort(signal: AbortSignal, listener: () => void): void {
  if (usable(signal)) {
    try {
      addEventListener.call(signal, "abort", listener, ONCE);
      return;
    } catch {
      refused.add(signal);
    }
  }
  queueMicrotask(listener);
}

/**
 * @internal Undoes {@linkcode onAbort}. On a signal fdpass no longer takes
 * the listener stays, and fires at most once, after its call settled.
 */
export function offAbort(signal: AbortSignal, listener: () => void): void {
  if (!usable(signal)) return;
  try {
    removeEventListener.call(signal, "abort", listener);
  } catch {
    // The listener stays; it ignores an abort after its call settled.
  }
}
