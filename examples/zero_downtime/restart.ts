/**
 * Drives the zero-downtime example: starts a server generation, keeps two
 * HTTP clients sending requests (a new TCP connection each) the whole time,
 * and restarts the server 10 times by handing its listening socket to a
 * successor, alternating Bun and Deno (`--allow-ffi` only). Prints how many
 * requests were made, how many failed or were refused (0 is the point), the
 * longest gap between two responses, and which processes served them.
 *
 * Run: `bun examples/zero_downtime/restart.ts [handovers]`, or
 * `deno run --allow-ffi --allow-run --allow-env examples/zero_downtime/restart.ts`.
 * The client needs no `--allow-net`: it talks TCP through fdpass.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import process from "node:process";
import { connectTcp, SystemError } from "../../mod.ts";
import { beside, RUNTIME, runtimeBinary } from "../_runtimes.ts";

const log = (text: string): void => console.log(`[${RUNTIME} driver] ${text}`);
const HANDOVERS = Number(process.argv[2] ?? 10);
const server = beside(import.meta.url, "server.ts");

interface Generation {
  child: ChildProcess;
  runtime: "bun" | "deno";
  pid: number;
  port: number;
  handover: string;
  exit: Promise<number | string | null>;
}

/** Starts a server generation and resolves once it accepts. */
function start(runtime: "bun" | "deno", args: string[]): Promise<Generation> {
  const command = runtime === "bun"
    ? [server, ...args]
    : ["run", "--allow-ffi", "--no-prompt", server, ...args];
  const child = spawn(runtimeBinary(runtime), command, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exit = new Promise<number | string | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal))
  );
  return new Promise((resolve, reject) => {
    exit.then((code) => reject(new Error(`${runtime} server exited ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.startsWith("{")) return console.log(line);
      const ready = JSON.parse(line) as Omit<Generation, "child" | "exit">;
      resolve({ ...ready, runtime, child, exit });
    });
  });
}

// --- The clients: one request per connection, as fast as they come back. ---
const encoder = new TextEncoder();
let port = 0;
let running = true;
let ok = 0;
let failed = 0;
let refused = 0;
let lastResponse = 0;
let longestGap = 0;
const servedBy = new Map<string, number>();
const progress: (() => void)[] = [];

async function client(id: number): Promise<void> {
  for (let n = 0; running; n++) {
    try {
      const connection = connectTcp({ port });
      await connection.write(
        encoder.encode(`GET /client${id}/${n} HTTP/1.1\r\nHost: x\r\n\r\n`),
        { signal: AbortSignal.timeout(30_000) },
      );
      // The stream closes the connection at its end.
      const text = await new Response(connection.readable).text();
      const by = /served by (\w+ pid \d+)/.exec(text)?.[1];
      if (!text.startsWith("HTTP/1.1 200 OK") || by === undefined) {
        throw new Error(`bad response: ${JSON.stringify(text)}`);
      }
      const now = performance.now();
      if (lastResponse > 0) {
        longestGap = Math.max(longestGap, now - lastResponse);
      }
      lastResponse = now;
      ok++;
      servedBy.set(by, (servedBy.get(by) ?? 0) + 1);
      for (const wake of progress.splice(0)) wake();
    } catch (error) {
      if (error instanceof SystemError && error.code === "ECONNREFUSED") {
        refused++;
      } else {
        failed++;
      }
      log(`client ${id} request ${n} failed: ${error}`);
    }
  }
}

/** Resolves once `count` more responses have arrived. */
async function responses(count: number): Promise<void> {
  const target = ok + count;
  while (ok < target) {
    await new Promise<void>((resolve) => progress.push(resolve));
  }
}

const runtimeOf = (i: number): "bun" | "deno" => i % 2 === 0 ? "bun" : "deno";
let current = await start(runtimeOf(0), ["--listen", "127.0.0.1:0"]);
port = current.port;
log(`generation 0: ${current.runtime} pid ${current.pid} on 127.0.0.1:${port}`);
const clients = [client(1), client(2)];

for (let i = 1; i <= HANDOVERS; i++) {
  await responses(20);
  const next = await start(runtimeOf(i), ["--from", current.handover]);
  const code = await current.exit;
  log(
    `hand-over ${i}: ${current.runtime} pid ${current.pid} -> ${next.runtime} pid ${next.pid} (old one exited ${code})`,
  );
  if (code !== 0) failed++;
  current = next;
}
await responses(20);
running = false;
await Promise.all(clients);
// process.kill, not child.kill: Deno's ChildProcess reports a child it
// signalled as killed even when the child handled the signal and exited 0.
process.kill(current.pid, "SIGTERM");
const lastCode = await current.exit;
log(`last generation stopped by SIGTERM, exited ${lastCode}`);
if (lastCode !== 0) failed++;

log(
  `${
    ok + failed + refused
  } requests through ${HANDOVERS} hand-overs: ${failed} failed, ${refused} refused; longest gap between responses ${
    longestGap.toFixed(1)
  } ms`,
);
log(
  `served by ${servedBy.size} processes: ${
    [...servedBy].map(([who, n]) => `${who} (${n})`).join(", ")
  }`,
);
if (failed > 0 || refused > 0 || servedBy.size !== HANDOVERS + 1) {
  process.exit(1);
}
