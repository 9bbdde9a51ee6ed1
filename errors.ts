/**
 * The errors fdpass throws besides `TypeError` (wrong shape) and `RangeError`
 * (value out of range).
 *
 * @module
 */

/** Options for {@linkcode SystemError}. */
export interface SystemErrorOptions {
  /** The errno name, such as `"EPIPE"`, or `"UNKNOWN"`. */
  code: string;
  /** The platform's errno number (positive, as in C). */
  errno: number;
  /** The C function that failed, such as `"sendmsg"`. */
  syscall: string;
}

/**
 * The kernel refused a call. Carries the fields Node and Bun users know.
 *
 * @example Handle a dead peer
 * ```ts
 * import { SystemError, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * b.close();
 * try {
 *   a.sendSync(new Uint8Array([1]));
 * } catch (error) {
 *   if (!(error instanceof SystemError) || error.code !== "EPIPE") throw error;
 *   console.log(error.message); // Cannot send: sendmsg() failed with EPIPE (broken pipe)
 * } finally {
 *   a.close();
 * }
 * ```
 */
export class SystemError extends Error {
  /** The errno name, such as `"EPIPE"`. */
  readonly code: string;
  /** The platform's errno number (positive, as in C). */
  readonly errno: number;
  /** The C function that failed. */
  readonly syscall: string;

  /** Creates the error from the failing call's errno. */
  constructor(message: string, options: SystemErrorOptions) {
    super(message);
    this.name = "SystemError";
    this.code = options.code;
    this.errno = options.errno;
    this.syscall = options.syscall;
  }
}

/**
 * The socket or descriptor was closed, by `close()` or by `using`, before or
 * during the operation. No call is ever made on a stale fd number.
 *
 * @example
 * ```ts
 * import { ClosedError, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * a.close();
 * try {
 *   a.sendSync(new Uint8Array([1]));
 * } catch (error) {
 *   console.log(error instanceof ClosedError); // true
 * }
 * b.close();
 * ```
 */
export class ClosedError extends Error {
  /** Always `"ERR_CLOSED"`. */
  readonly code: "ERR_CLOSED" = "ERR_CLOSED";

  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ClosedError";
  }
}

/** Why a {@linkcode ControlMessageError} was thrown. */
export type ControlMessageErrorCode =
  | "ERR_CONTROL_TRUNCATED"
  | "ERR_CONTROL_MALFORMED"
  | "ERR_CONTROL_UNKNOWN"
  | "ERR_FDS_REFUSED"
  | "ERR_FD_MISSING";

/**
 * A received message carried control data fdpass could not deliver whole:
 * the control buffer was too small for the fds sent (more than `maxFds`, or no
 * free descriptor slots), the control data was malformed, or it held a
 * message fdpass does not know (and so cannot vouch carries no descriptor). Every descriptor
 * that did arrive has been closed; the socket stays usable.
 *
 * @example
 * ```ts
 * import { ControlMessageError, pipe, socketPair } from "./mod.ts";
 *
 * const [a, b] = socketPair();
 * const [r, w] = pipe();
 * a.sendSync(new Uint8Array([1]), [r, w]);
 * try {
 *   b.receiveSync(new Uint8Array(1), { maxFds: 1 });
 * } catch (error) {
 *   if (error instanceof ControlMessageError) console.log(error.closedFds); // 1
 * }
 * for (const x of [a, b, r, w]) x.close();
 * ```
 */
export class ControlMessageError extends Error {
  /**
   * `"ERR_CONTROL_TRUNCATED"` (MSG_CTRUNC), `"ERR_CONTROL_MALFORMED"`,
   * `"ERR_CONTROL_UNKNOWN"` (a control message fdpass does not know, from
   * an option such as `SO_TIMESTAMP` set on the socket elsewhere), or
   * `"ERR_FDS_REFUSED"` (descriptors sent to a socket set to
   * `UnixSocket.refuseFds()`: the kernel discarded them), or
   * `"ERR_FD_MISSING"` (`UnixSocket.receiveFd()` got a message, or end of
   * stream, without a descriptor).
   */
  readonly code: ControlMessageErrorCode;
  /** Data bytes the message delivered (consumed from the socket). */
  readonly bytes: number;
  /** How many delivered descriptors fdpass closed. */
  readonly closedFds: number;

  /** Creates the error. */
  constructor(
    message: string,
    code: ControlMessageErrorCode,
    bytes: number,
    closedFds: number,
  ) {
    super(message);
    this.name = "ControlMessageError";
    this.code = code;
    this.bytes = bytes;
    this.closedFds = closedFds;
  }
}

export { FfiUnavailableError } from "./ffi/errors.ts";
