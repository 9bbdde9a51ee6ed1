/**
 * Internal: runs one socket's operations of one direction in call order.
 * An operation whose signal aborts while it is still queued rejects at once.
 *
 * @module
 */

import { abortReason, isAborted, offAbort, onAbort } from "./_signal.ts";

const ignore = (): void => {};

export class OperationQueue {
  #tail: Promise<void> = Promise.resolve();
  #idle = true;

  /** Nothing is running or queued. */
  get idle(): boolean {
    return this.#idle;
  }

  /** Runs `operation` after every operation queued before it. */
  run<T>(
    signal: AbortSignal | undefined,
    operation: () => Promise<T>,
  ): Promise<T> {
    if (isAborted(signal)) return Promise.reject(abortReason(signal!));
    if (this.#idle) {
      // Nothing queued: start now, without waiting for a microtask turn.
      this.#idle = false;
      const result = operation();
      const tail = result.then(ignore, ignore);
      this.#tail = tail;
      void tail.then(() => {
        if (this.#tail === tail) this.#idle = true;
      });
      return result;
    }
    return new Promise<T>((resolve, reject) => {
      let cancelled = false;
      const abort = (): void => {
        cancelled = true;
        reject(abortReason(signal!));
      };
      if (signal !== undefined) onAbort(signal, abort);
      const tail = this.#tail.then(async () => {
        if (signal !== undefined) offAbort(signal, abort);
        // An abort its listener could not report (a signal the engine no
        // longer takes) is seen here, before the operation starts.
        if (!cancelled && isAborted(signal)) abort();
        if (cancelled) return;
        try {
          resolve(await operation());
        } catch (error) {
          reject(error);
        }
      });
      this.#tail = tail;
      void tail.then(() => {
        if (this.#tail === tail) this.#idle = true;
      });
    });
  }
}
