/**
 * The sandboxed side of the broker example. Deno runs it with `--allow-ffi`
 * and nothing else: it cannot open a file by path, so it asks the broker,
 * which answers with read-only descriptors for what it allows.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { Channel, connect, type Frame, SystemError } from "../../mod.ts";
import { RUNTIME } from "../_runtimes.ts";

const log = (text: string): void => console.log(`  [${RUNTIME} tool] ${text}`);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const socketPath = process.argv[2]!;
log(`pid ${process.pid}`);

// The sandbox at work: the file is right there, but not for us.
const report = join(dirname(socketPath), "report.txt");
try {
  readFileSync(report);
  log(`read ${report} by path: the sandbox is not on!`);
} catch (error) {
  log(`cannot read ${report} by path: ${(error as Error).name}`);
}

using channel = new Channel(connect(socketPath));

async function ask(name: string): Promise<Frame> {
  await channel.send(encoder.encode(JSON.stringify({ open: name })));
  return await channel.receive({ signal: AbortSignal.timeout(30_000) });
}

for (const name of ["report.txt", "secrets.txt", "../../etc/passwd"]) {
  const answer = await ask(name);
  const reply = JSON.parse(decoder.decode(answer.data)) as { error?: string };
  if (reply.error !== undefined) {
    log(`${name}: refused (${reply.error})`);
    continue;
  }
  using file = answer.fds[0]!;
  const buffer = new Uint8Array(4096);
  const text = decoder.decode(buffer.subarray(0, file.readSync(buffer)));
  log(
    `${name} through fd ${file.fd}: first line ${
      JSON.stringify(text.split("\n")[0])
    }`,
  );
  try {
    file.writeSync(encoder.encode("tampered"));
    log("wrote through the fd: it was not read-only!");
  } catch (error) {
    if (!(error instanceof SystemError)) throw error;
    log(
      `writing through it fails with ${error.code}: the broker gave read access only`,
    );
  }
}
