/**
 * One generation of a zero-downtime HTTP server (Bun, or Deno with
 * `--allow-ffi` only). Where its listening TCP socket comes from:
 *
 * - `--listen 127.0.0.1:PORT`: it creates it (`listenTcp`; port 0: any);
 * - `--from @NAME`: its predecessor hands it over on the Unix socket NAME;
 * - neither: systemd socket activation (`listenFds()`), e.g.
 *   `systemd-socket-activate --listen=127.0.0.1:8080 bun server.ts`.
 *
 * Every generation offers its own hand-over socket. When a successor
 * connects there, it sends the listening socket (the descriptor: the
 * socket itself never closes, so the kernel keeps queueing connections),
 * stops accepting, finishes the requests in flight and exits. SIGTERM does
 * the same without a successor. The pattern of cloudflare/tableflip, nginx
 * binary upgrades and Envoy hot restarts.
 *
 * @module
 */

import process from "node:process";
import { clearInterval, setInterval } from "node:timers";
import {
  Channel,
  connect,
  listen,
  listenFds,
  listenTcp,
  StreamListener,
} from "../../mod.ts";
import { RUNTIME } from "../_runtimes.ts";
import { serveHttp } from "../_http.ts";

const log = (text: string): void =>
  console.log(`[${RUNTIME} server ${process.pid}] ${text}`);
const [flag, value] = process.argv.slice(2);

// If whatever started this generation dies (a driver killed mid-run), stop
// too rather than serve (or wait for a listener) forever. Unref'd: it never
// keeps the process up.
let onParentGone = (): void => process.exit(1);
const parent = process.ppid;
const watchdog = setInterval(() => {
  if (process.ppid !== parent) onParentGone();
}, 500);
watchdog.unref();

async function takeListener(): Promise<StreamListener> {
  if (flag === "--listen") {
    const at = value!.lastIndexOf(":");
    return listenTcp({
      hostname: value!.slice(0, at),
      port: Number(value!.slice(at + 1)),
    });
  }
  if (flag === "--from") {
    const path = value!.startsWith("@") ? `\0${value!.slice(1)}` : value!;
    using predecessor = new Channel(connect(path, { kind: "seqpacket" }));
    const { fds } = await predecessor.receive({
      signal: AbortSignal.timeout(60_000),
    });
    return StreamListener.fromFd(fds[0]!);
  }
  const passed = listenFds({ unsetEnvironment: true });
  if (passed.length !== 1) {
    throw new Error(
      "expected --listen HOST:PORT, --from @NAME, or one socket from systemd (LISTEN_FDS)",
    );
  }
  return StreamListener.fromFd(passed[0]!.fd);
}

const listener = await takeListener();
const source = flag === "--listen"
  ? "created"
  : flag === "--from"
  ? "inherited from the previous generation"
  : "passed by systemd";
const address = listener.localAddress() as { address: string; port: number };

// The hand-over socket for the next generation.
const handoverPath = `\0fdpass-zero-downtime-${process.pid}-${Date.now()}`;
const handover = listen(handoverPath, { kind: "seqpacket" });
console.log(JSON.stringify({
  ready: true,
  runtime: RUNTIME,
  pid: process.pid,
  port: address.port,
  handover: `@${handoverPath.slice(1)}`,
}));
log(`accepting on ${address.address}:${address.port} (${source})`);

let served = 0;
const inflight = new Set<Promise<void>>();
let stopping = false;

function stop(why: string): void {
  if (stopping) return;
  stopping = true;
  log(`stops accepting: ${why}`);
  listener.close(); // ends the accept loop below; the socket lives on elsewhere
  handover.close();
  process.off("SIGTERM", onTerm);
  clearInterval(watchdog);
}

const onTerm = (): void => stop("SIGTERM");
process.on("SIGTERM", onTerm);
onParentGone = () => stop("the process that started it is gone");

void (async () => {
  try {
    const successor = new Channel(await handover.accept());
    // Send first, then stop: a connection accepted in between is served here.
    await successor.send(new TextEncoder().encode("listener"), [listener]);
    successor.close();
    stop("handed the listening socket to the next generation");
  } catch {
    // Closed by SIGTERM: no successor.
  }
})();

for await (const connection of listener) {
  const request = serveHttp(connection, ({ path }) => {
    served++;
    return `${path} served by ${RUNTIME} pid ${process.pid}\n`;
  }).catch((error) => log(`request failed: ${error}`))
    .finally(() => inflight.delete(request));
  inflight.add(request);
}
await Promise.all(inflight);
log(`drained: served ${served} requests, exiting`);
