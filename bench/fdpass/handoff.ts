// Connection handoff with fdpass (Bun and Deno), the twin of
// bench/c/handoff.c: a front accepts TCP connections on 127.0.0.1
// (listenTcp) and passes each to a worker process over a Unix socket (1 byte
// + 1 fd), then closes its copy; the worker writes "ok\n" to the connection
// through OwnedFd.write and closes it. The runner starts both processes.
//
// Usage: <runtime> handoff.ts front <name>    prints "ready <port>"
//        <runtime> handoff.ts worker <name>   connects to the front
// (<name> is a Linux abstract socket name, without the leading NUL.)
import process from "node:process";
import { connect, listen, listenTcp } from "../../mod.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  process.argv.slice(2);
const [mode, name] = args;
const path = `\0${name}`;

if (mode === "front") {
  const unix = listen(path);
  const worker = await unix.accept();
  unix.close();
  const tcp = listenTcp({ port: 0, backlog: 1024 });
  const address = tcp.localAddress();
  console.log(`ready ${"port" in address ? address.port : 0}`);
  const byte = new Uint8Array([99]);
  for await (const connection of tcp) {
    await worker.send(byte, [connection]);
    connection.close();
  }
} else if (mode === "worker") {
  let socket;
  for (let tries = 0;; tries++) {
    try {
      socket = connect(path);
      break;
    } catch (error) {
      if (tries > 500) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const buffer = new Uint8Array(1);
  const ok = new TextEncoder().encode("ok\n");
  for (;;) {
    const { eof, fds } = await socket.receive(buffer, { maxFds: 1 });
    if (eof) break;
    for (const fd of fds) {
      await fd.write(ok);
      fd.close();
    }
  }
  socket.close();
} else {
  console.error("usage: handoff.ts front|worker <name>");
  process.exit(2);
}
