/**
 * A minimal HTTP/1.1 responder over any connected descriptor, for the
 * examples: the request head is read from `connection.readable`, the
 * response written to `connection.writable` (fdpass's web streams over the
 * raw descriptor), one request per connection (`Connection: close`).
 * Closing the writable shuts the sending side down, and once both streams
 * have ended the descriptor is closed.
 *
 * @module
 */

import type { OwnedFd } from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The request line of one HTTP request. */
export interface HttpRequest {
  method: string;
  path: string;
}

/**
 * Reads one request from `connection` and answers it with `200 OK` and the
 * text `respond` returns (`400` when the head is malformed). Closes the
 * descriptor when done.
 */
export async function serveHttp(
  connection: OwnedFd,
  respond: (request: HttpRequest) => string,
  signal: AbortSignal = AbortSignal.timeout(30_000),
): Promise<void> {
  // Take both streams first: the descriptor closes when the last one ends.
  const writer = connection.writable.getWriter();
  const reader = connection.readable.getReader();
  let head = "";
  try {
    while (!head.includes("\r\n\r\n") && head.length < 16_384) {
      const { value, done } = await reader.read();
      if (done) break;
      head += decoder.decode(value, { stream: true });
      if (signal.aborted) throw signal.reason;
    }
  } finally {
    // The request has no body: reading is done (one of the two streams).
    await reader.cancel();
  }
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/.exec(head);
  const status = match === null ? "400 Bad Request" : "200 OK";
  const body = match === null
    ? "bad request\n"
    : respond({ method: match[1]!, path: match[2]! });
  const bytes = encoder.encode(body);
  await writer.write(encoder.encode(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
  ));
  await writer.write(bytes);
  // Shuts the sending side down; with the readable ended, closes the fd.
  await writer.close();
}
