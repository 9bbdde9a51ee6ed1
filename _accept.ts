/**
 * Internal: the `for await` loop every listener shares: accept until the
 * listener is closed, and end quietly when it is.
 *
 * @module
 */

import { ClosedError } from "./errors.ts";

/** Yields `listener.accept()` results until the listener is closed. */
export async function* acceptUntilClosed<T>(
  listener: { readonly closed: boolean; accept(): Promise<T> },
): AsyncGenerator<T, void, undefined> {
  for (;;) {
    if (listener.closed) return;
    let connection: T;
    try {
      connection = await listener.accept();
    } catch (error) {
      if (error instanceof ClosedError) return;
      throw error;
    }
    yield connection;
  }
}
