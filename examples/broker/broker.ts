/**
 * A capability broker: this Bun process owns some files; a sandboxed Deno
 * tool (run with `--allow-ffi` and no other permission, so it cannot open a
 * single file) asks for them by name. Before serving, the broker asks the
 * kernel who is at the other end of the connection (`peerCredentials()`,
 * SO_PEERCRED) and serves only the tool it started, running as the same
 * user. It answers each request with a frame on a {@linkcode Channel}: a
 * read-only descriptor for a file on its allowlist, a refusal for anything
 * else.
 *
 * Run: `bun examples/broker/broker.ts`
 *
 * @module
 */

import { spawn } from "node:child_process";
import {
  closeSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Channel, listen, type UnixSocket } from "../../mod.ts";
import { beside, RUNTIME, runtimeBinary } from "../_runtimes.ts";

const log = (text: string): void => console.log(`[${RUNTIME} broker] ${text}`);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// What the broker may hand out, and how: read-only, by name, nothing else.
const dir = mkdtempSync(join(tmpdir(), "fdpass-broker-"));
const ALLOWED = new Map([["report.txt", join(dir, "report.txt")]]);
writeFileSync(join(dir, "report.txt"), "revenue: 42\nsecond line\n");
writeFileSync(join(dir, "secrets.txt"), "the tool must never see this\n");

const socketPath = join(dir, "broker.sock");
using listener = listen(socketPath); // mode 0600: only this user can connect
log(`listening on ${socketPath}`);

const tool = spawn(runtimeBinary("deno"), [
  "run",
  "--allow-ffi", // fdpass itself; no --allow-read, --allow-net, ...
  "--no-prompt",
  beside(import.meta.url, "tool.ts"),
  socketPath,
], { stdio: "inherit" });
const exited = new Promise<number | null>((resolve) =>
  tool.on("exit", (code) => resolve(code))
);

/** Serves only the process we started, running as our own user. */
function trusted(connection: UnixSocket): boolean {
  const peer = connection.peerCredentials();
  const ok = peer.pid === tool.pid && peer.uid === process.getuid!();
  log(
    `peer credentials from the kernel: pid ${peer.pid}, uid ${peer.uid}, gid ${peer.gid}: ${
      ok ? "the tool we started, same user: serving" : "a stranger: refused"
    }`,
  );
  return ok;
}

let served = 0;
let refused = 0;
for (;;) {
  const connection = await listener.accept({
    signal: AbortSignal.timeout(60_000),
  });
  if (!trusted(connection)) {
    connection.close();
    continue;
  }
  using channel = new Channel(connection, { maxFrameSize: 4096 });
  for await (const request of channel) {
    for (const fd of request.fds) fd.close(); // the tool sends none; drop any
    const { open: name } = JSON.parse(decoder.decode(request.data)) as {
      open: string;
    };
    const path = ALLOWED.get(name);
    if (path === undefined) {
      refused++;
      log(`refused ${JSON.stringify(name)}: not on the allowlist`);
      await channel.send(
        encoder.encode(JSON.stringify({ error: "not on the allowlist" })),
      );
      continue;
    }
    const fd = openSync(path, "r"); // O_RDONLY: the tool cannot write through it
    try {
      log(`sending ${name} as a read-only fd`);
      await channel.send(encoder.encode(JSON.stringify({ name })), [fd]);
    } finally {
      closeSync(fd); // sending borrowed it; now only the tool holds it
    }
    served++;
  }
  break; // the tool hung up
}

const code = await exited;
rmSync(dir, { recursive: true });
log(`served ${served}, refused ${refused}; tool exited with code ${code}`);
if (code !== 0 || served !== 1 || refused !== 2) process.exit(1);
