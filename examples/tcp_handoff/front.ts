/**
 * A TCP front that hands every accepted connection to a pool of worker
 * processes, one Bun and one Deno (`--allow-ffi` only): the pattern of
 * socket-passing load balancers (denoland/deno#27788). The front accepts on
 * 127.0.0.1 and sends each connection's descriptor over a Unix socket; the
 * worker adopts it (`Connection.fromFd`) and serves HTTP/1.1 on it with
 * `readable`/`writable`. The front never reads a byte of any request.
 *
 * Run: `bun examples/tcp_handoff/front.ts [connections]`, or
 * `deno run --allow-ffi --allow-run --allow-env examples/tcp_handoff/front.ts`,
 * then `curl http://127.0.0.1:PORT/` as many times as it says (default 6).
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { Channel, listen, listenTcp } from "../../mod.ts";
import { beside, RUNTIME, runtimeBinary } from "../_runtimes.ts";

const log = (text: string): void => console.log(`[${RUNTIME} front] ${text}`);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const connections = Number(process.argv[2] ?? 6);

// 1. Workers connect back on a private seqpacket socket.
const controlPath = `\0fdpass-tcp-handoff-${process.pid}-${Date.now()}`;
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
// A worker that dies early would leave its connections unanswered: stop.
let finished = false;
for (const exit of exits) {
  void exit.then((code) => {
    if (finished) return;
    log(`a worker exited early (${code}): stopping`);
    process.exit(1);
  });
}
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

// 2. The public TCP port; clients are anyone (curl, a browser, the test).
using server = listenTcp({ hostname: "127.0.0.1", port: 0 });
const { port } = server.localAddress() as { port: number };
log(`front pid ${process.pid}, listening on http://127.0.0.1:${port}/`);

// 3. Accept, hand over, forget: round robin over the workers.
for (let n = 1; n <= connections; n++) {
  using connection = await server.accept();
  // Ask for the peer's address now: once the worker has answered and both
  // sides have closed, the kernel has no peer to report (ENOTCONN).
  const peer = JSON.stringify(connection.remoteAddress());
  const worker = workers[n % workers.length]!;
  await worker.channel.send(
    encoder.encode(JSON.stringify({ connection: n })),
    [connection],
  ); // `using` closes the front's copy: the worker's is the only one now
  log(`handed connection ${n} from ${peer} to the ${worker.name}`);
}

// 4. Closing the control channels ends the workers' loops.
finished = true;
for (const worker of workers) worker.channel.close();
const codes = await Promise.all(exits);
log(`workers exited with ${codes.join(", ")}`);
if (codes.some((code) => code !== 0)) process.exit(1);
