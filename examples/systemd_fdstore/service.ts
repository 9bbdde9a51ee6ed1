/**
 * systemd's file descriptor store. A service can hand systemd descriptors to
 * keep while it restarts: an `FDSTORE=1` datagram to `$NOTIFY_SOCKET` (the
 * socket that also takes `READY=1`), with the descriptors attached and named
 * by `FDNAME=`. On the next start systemd passes them back from fd 3 on, as
 * `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` say. That is what
 * `sd_pid_notify_with_fds()` and `sd_listen_fds_with_names()` do in C.
 *
 * This service counts its starts. Its state lives in a pipe, which the fd
 * store keeps alive across restarts: each start reads the previous count
 * from the pipe it gets back, and stores a new pipe holding the next one.
 * (Listening sockets and live client connections are the other classic
 * things to store.)
 *
 * `$NOTIFY_SOCKET` is a path, or `@name` for a Linux abstract socket.
 *
 * Run: `bun examples/systemd_fdstore/service.ts`, or
 * `deno run --allow-ffi --allow-env examples/systemd_fdstore/service.ts`;
 * see examples/README.md for running it under systemd.
 *
 * @module
 */

import process from "node:process";
import { connect, type FdLike, OwnedFd, pipe } from "../../mod.ts";
import { RUNTIME } from "../_runtimes.ts";

const log = (text: string): void => console.log(`[${RUNTIME} service] ${text}`);
const encoder = new TextEncoder();
const env = process.env;

if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === "") {
  log("NOTIFY_SOCKET is not set: not started by systemd, nothing to store");
  process.exit(0);
}
const address = env.NOTIFY_SOCKET.startsWith("@")
  ? `\0${env.NOTIFY_SOCKET.slice(1)}`
  : env.NOTIFY_SOCKET;
using notify = connect(address, { kind: "dgram" });

/** Sends one notification datagram (`sd_notify`), with descriptors if any. */
function sdNotify(text: string, fds: readonly FdLike[] = []): void {
  notify.sendSync(encoder.encode(text), fds);
}

// 1. What systemd handed back from the store, by name (`sd_listen_fds`).
const restored = new Map<string, OwnedFd>();
if (Number(env.LISTEN_PID) === process.pid) {
  const names = (env.LISTEN_FDNAMES ?? "").split(":");
  for (let i = 0; i < Number(env.LISTEN_FDS ?? "0"); i++) {
    restored.set(names[i] ?? "unknown", new OwnedFd(3 + i));
  }
}

// 2. The state: the previous count, from the pipe the store kept.
let starts = 0;
const previous = restored.get("state");
if (previous !== undefined) {
  const buffer = new Uint8Array(64);
  const text = new TextDecoder().decode(
    buffer.subarray(0, previous.readSync(buffer)),
  );
  starts = Number(/starts=(\d+)/.exec(text)?.[1] ?? "0");
  previous.close();
  log(`restored "${text.trim()}" from the fd store`);
}
starts++;
log(`pid ${process.pid}, start number ${starts}`);

// 3. Replace the stored state with a pipe holding the new count.
const [stateRead, stateWrite] = pipe();
stateWrite.writeSync(encoder.encode(`starts=${starts}\n`));
stateWrite.close(); // the pipe keeps its bytes while its read end is open
if (previous !== undefined) sdNotify("FDSTOREREMOVE=1\nFDNAME=state");
sdNotify("FDSTORE=1\nFDNAME=state", [stateRead]);
stateRead.close(); // systemd holds its own copy now
sdNotify(`READY=1\nSTATUS=start number ${starts}`);
for (const fd of restored.values()) fd.close();
log("stored the state pipe; exiting (a restart picks it up)");
