/**
 * Handing live connections to other processes, the pattern of socket-passing
 * load balancers and zero-downtime restarts. The front process accepts
 * client connections on a Unix socket and passes each accepted socket, as a
 * descriptor, to a worker process: one worker runs in Bun, one in Deno (with
 * `--allow-ffi` only). The worker adopts it (`UnixSocket.fromFd`) and talks
 * to the client directly; the front closes its copy and never sees a byte
 * of the conversation.
 *
 * Run: `bun examples/handoff/front.ts`, or
 * `deno run --allow-ffi --allow-run --allow-env examples/handoff/front.ts`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { Channel, connect, listen } from "../../mod.ts";
import { beside, RUNTIME, runtimeBinary } from "../_runtimes.ts";

const log = (text: string): void => console.log(`[${RUNTIME} front] ${text}`);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const id = `${process.pid}-${Date.now()}`;
const CLIENTS = 6;

// 1. Workers connect back on a private seqpacket socket: one frame, one message.
const controlPath = `\0fdpass-handoff-control-${id}`;
using control = listen(controlPath, { kind: "seqpacket" });
const workerScript = beside(import.meta.url, "worker.ts");
const controlArg = `@${controlPath.slice(1)}`; // argv cannot hold NUL
const children = [
  spawn(runtimeBinary("bun"), [workerScript, controlArg], { stdio: "inherit" }),
  spawn(runtimeBinary("deno"), [
    "run",
    "--allow-ffi",
    "--no-prompt",
    workerScript,
    controlArg,
  ], { stdio: "inherit" }),
];
const exits = children.map((child) =>
  new Promise<number | null>((resolve) => child.on("exit", resolve))
);
const workers: { channel: Channel; name: string }[] = [];
for (let i = 0; i < children.length; i++) {
  const channel = new Channel(
    await control.accept({ signal: AbortSignal.timeout(60_000) }),
  );
  const hello = await channel.receive({ signal: AbortSignal.timeout(60_000) });
  const { runtime, pid } = JSON.parse(decoder.decode(hello.data)) as {
    runtime: string;
    pid: number;
  };
  workers.push({ channel, name: `${runtime} worker (pid ${pid})` });
  log(`${runtime} worker ready, pid ${pid}`);
}

// 2. The public socket. The clients live in this process to keep the example
//    self-contained; they could be anywhere.
const publicPath = `\0fdpass-handoff-${id}`;
using server = listen(publicPath);
log(`front pid ${process.pid}, accepting on @${publicPath.slice(1)}`);

async function client(n: number): Promise<string> {
  using socket = connect(publicPath);
  await socket.send(encoder.encode(`hello from client ${n}`));
  let reply = "";
  for (;;) {
    const buffer = new Uint8Array(1024);
    const { bytes, eof } = await socket.receive(buffer, {
      signal: AbortSignal.timeout(60_000),
    });
    if (eof) return reply;
    reply += decoder.decode(buffer.subarray(0, bytes));
  }
}
const clients = Array.from({ length: CLIENTS }, (_, i) => client(i + 1));

// 3. Accept, hand over, forget.
for (let n = 1; n <= CLIENTS; n++) {
  const connection = await server.accept({
    signal: AbortSignal.timeout(60_000),
  });
  const worker = workers[n % workers.length]!;
  await worker.channel.send(
    encoder.encode(JSON.stringify({ connection: n })),
    [connection],
  );
  connection.close(); // the worker's copy is the only one now
  log(`handed connection ${n} to the ${worker.name}`);
}

const replies = await Promise.all(clients);
replies.forEach((reply, i) => console.log(`[client ${i + 1}] ${reply}`));

// 4. Closing the control channels ends the workers' loops.
for (const worker of workers) worker.channel.close();
const codes = await Promise.all(exits);
log(`workers exited with ${codes.join(", ")}`);
const servedBy = new Set(replies.map((r) => /\(pid (\d+)\)/.exec(r)?.[1]));
if (codes.some((code) => code !== 0) || servedBy.size !== 2) process.exit(1);
