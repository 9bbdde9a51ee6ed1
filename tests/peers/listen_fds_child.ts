/**
 * A socket-activated peer (Bun, or Deno with `--allow-ffi` only): takes the
 * descriptors its supervisor passed with `listenFds()`, reports what it got
 * as one JSON line, and serves one connection on each listening socket.
 * `argv[2]`: "serve" (default), "unset" (also `unsetEnvironment`, then a
 * second call), or "twice" (a second call while the variables remain).
 *
 * @module
 */

import process from "node:process";
import { listenFds, StreamListener } from "../../mod.ts";
import { libc } from "../../_system.ts";

const mode = process.argv[2] ?? "serve";
const runtime = "Bun" in globalThis ? "bun" : "deno";
const lib = libc();
const report: Record<string, unknown> = { runtime, pid: process.pid };
try {
  const fds = listenFds({ unsetEnvironment: mode === "unset" });
  report.fds = fds.map(({ fd, name }) => ({
    name,
    fd: fd.fd,
    closeOnExec: (lib.fcntl(fd.fd, lib.platform.constants.F_GETFD, 0) &
      lib.platform.constants.FD_CLOEXEC) !== 0,
  }));
  report.environment = lib.getenv("LISTEN_PID") ?? null;
  if (mode === "unset") report.again = listenFds().length;
  if (mode === "twice") {
    try {
      listenFds();
      report.again = "no error";
    } catch (error) {
      report.again = String(error);
    }
  }
  const served: unknown[] = [];
  for (const { fd, name } of fds) {
    using listener = StreamListener.fromFd(fd);
    const address = listener.localAddress();
    if (mode !== "serve") {
      served.push({ name, address });
      continue;
    }
    using connection = await listener.accept({
      signal: AbortSignal.timeout(60_000),
    });
    connection.writeSync(
      new TextEncoder().encode(`${name} served by ${runtime} ${process.pid}\n`),
    );
    served.push({ name, address });
  }
  report.served = served;
} catch (error) {
  report.error = `${(error as Error).name}: ${(error as Error).message}`;
}
console.log(JSON.stringify(report));
