/**
 * Deno with `--allow-ffi` only: node:http serves HTTP on a listening socket
 * fdpass created (as it would one received or inherited), which Deno's own
 * `Deno.serve` cannot take. Prints the raw response.
 *
 * @module
 */

import http from "node:http";
import { connectTcp, listenTcp } from "../../mod.ts";

const listener = listenTcp();
const { port } = listener.localAddress() as { port: number };
const fd = listener.release();
const server = http.createServer((req, res) =>
  res.end(`node:http on an adopted fd: ${req.url}`)
);
await new Promise<void>((resolve, reject) => {
  server.once("error", reject);
  server.listen({ fd }, () => resolve());
});
const connection = connectTcp({ port });
await connection.write(
  new TextEncoder().encode(
    "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ),
);
console.log(await new Response(connection.readable).text());
server.close();
