/**
 * `npm run demo`: a Bun broker hands a sandboxed Deno tool (run with
 * `--allow-ffi` and nothing else) an open file it could not open itself and
 * the write end of a pipe; the tool reads the file and answers through the
 * pipe. Runs under Bun (the broker) and spawns Deno (the tool).
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
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { listen, pipe } from "../../mod.ts";

const here = dirname(fileURLToPath(import.meta.url));
const deno = join(here, "../../node_modules/.bin/deno");
const runtime = "Bun" in globalThis ? "bun" : "deno";
const log = (text: string): void => console.log(`[${runtime} broker] ${text}`);

const dir = mkdtempSync(join(tmpdir(), "fdpass-demo-"));
const socketPath = join(dir, "broker.sock");
const secretPath = join(dir, "report.txt");
writeFileSync(
  secretPath,
  "quarterly numbers: 42\nnot for the tool's eyes: it may only read this fd\n",
);

const listener = listen(socketPath);
log(`listening on ${socketPath}`);
const tool = spawn(deno, [
  "run",
  "--allow-ffi",
  join(here, "tool.ts"),
  socketPath,
], {
  stdio: "inherit",
});
const exited = new Promise<number | null>((resolve) =>
  tool.on("exit", resolve)
);

const connection = await listener.accept({
  signal: AbortSignal.timeout(30_000),
});
log("tool connected");

const file = openSync(secretPath, "r");
const [replyRead, replyWrite] = pipe();
log(
  `sending fd ${file} (${secretPath}, read-only) and fd ${replyWrite.fd} (pipe write end)`,
);
await connection.send(new TextEncoder().encode("read this, answer here"), [
  file,
  replyWrite,
]);
// Sending borrowed them; closing our copies hands them over for good.
closeSync(file);
replyWrite.close();

const chunks: Uint8Array[] = [];
for (;;) {
  const chunk = new Uint8Array(4096);
  const n = replyRead.readSync(chunk); // 0 once the tool closes its end
  if (n === 0) break;
  chunks.push(chunk.subarray(0, n));
}
const reply = new TextDecoder().decode(
  chunks.reduce((all, c) => new Uint8Array([...all, ...c]), new Uint8Array()),
);
log(`reply through the pipe: ${JSON.stringify(reply)}`);

const code = await exited;
log(`tool exited with code ${code}`);
for (const x of [replyRead, connection, listener]) x.close();
rmSync(dir, { recursive: true });
if (code !== 0 || !reply.includes("42")) {
  log("demo FAILED");
  process.exit(1);
}
log("done: two runtimes, one open file and one pipe passed over a Unix socket");
