/**
 * `listenFds()` against the real `systemd-socket-activate` (Debian package
 * `systemd`, installed here when missing and run as root; skipped with the
 * reason otherwise): a TCP port on 127.0.0.1 and a Unix path in one run,
 * named with `--fdname`, served by a Bun child and a Deno child that has
 * `--allow-ffi` only (no `--allow-env`). The edge cases of the contract
 * (another process's `LISTEN_PID`, malformed values, taking twice,
 * `unsetEnvironment`) run against a shell that execs the child with its own
 * pid in `LISTEN_PID`, as systemd does.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect as netConnect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { connect, listenTcp, type OwnedFd } from "../mod.ts";
import {
  BIN,
  noLeak,
  ROOT,
  run,
  type RunResult,
  RUNTIME,
  socketActivateMissing,
} from "./_helpers.ts";

const CHILD = join(ROOT, "tests/peers/listen_fds_child.ts");
const LONG = { timeout: 180_000 };

const missing = socketActivateMissing();

function childCommand(runtime: "bun" | "deno", mode: string): string[] {
  return runtime === "bun"
    ? [BIN.bun, CHILD, mode]
    : [BIN.deno, "run", "--quiet", "--no-prompt", "--allow-ffi", CHILD, mode];
}

interface Report {
  runtime: string;
  pid: number;
  fds?: { name: string; fd: number; closeOnExec: boolean }[];
  environment?: string | null;
  again?: unknown;
  served?: { name: string; address: unknown }[];
  error?: string;
}

function parseReport(result: RunResult): Report {
  assert.equal(
    result.code,
    0,
    `exit ${result.code} (${result.signal})\n${result.stdout}\n${result.stderr}`,
  );
  const line = result.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as Report;
}

/** A port that was free a moment ago. */
function freePort(): number {
  using probe = listenTcp({ reuseAddress: false });
  return (probe.localAddress() as { port: number }).port;
}

/** Reads everything a TCP client receives on 127.0.0.1:port. */
function tcpRead(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1");
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => text += chunk);
    socket.once("end", () => {
      socket.destroy();
      resolve(text);
    });
    socket.once("error", reject);
  });
}

/** Reads everything a Unix stream client receives from `path`. */
async function unixRead(path: string): Promise<string> {
  using socket = connect(path);
  let text = "";
  for (;;) {
    const buffer = new Uint8Array(256);
    const { bytes, eof } = await socket.receive(buffer, {
      signal: AbortSignal.timeout(60_000),
    });
    if (eof) return text;
    text += new TextDecoder().decode(buffer.subarray(0, bytes));
  }
}

/**
 * Runs `systemd-socket-activate` with `args` and the child; once it says it
 * listens, `clients()` connects (the first connection makes it exec the
 * child). Resolves with the run and what the clients read.
 */
function socketActivate(
  args: readonly string[],
  command: readonly string[],
  clients: () => Promise<string[]>,
): Promise<{ result: RunResult; replies: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "systemd-socket-activate",
      [...args, "-E", "NO_COLOR=1", ...command],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    let replies: Promise<string[]> | undefined;
    child.stdout!.setEncoding("utf8").on("data", (s: string) => stdout += s);
    child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
      // One "Listening on ... as N." line per socket; connect after the last.
      const listening = stderr.match(/Listening on .* as \d+\./g)?.length ?? 0;
      if (
        replies === undefined &&
        listening === args.filter((a) => a.startsWith("--listen=")).length
      ) {
        replies = clients();
        replies.catch(() => {});
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", async (code, signal) => {
      clearTimeout(timer);
      try {
        resolve({
          result: { code, signal, stdout, stderr },
          replies: replies === undefined ? [] : await replies,
        });
      } catch (error) {
        reject(new Error(`${error}\n${stdout}\n${stderr}`));
      }
    });
  });
}

for (const runtime of ["bun", "deno"] as const) {
  test(
    `systemd-socket-activate passes a TCP port and a Unix path, named, to a ${runtime} child that serves both (${
      runtime === "deno" ? "--allow-ffi only, " : ""
    }from ${RUNTIME})`,
    { ...LONG, skip: missing },
    async () => {
      await noLeak(async () => {
        const dir = mkdtempSync(join(tmpdir(), "fdpass-activate-"));
        try {
          const path = join(dir, "app.sock");
          let outcome: Awaited<ReturnType<typeof socketActivate>> | undefined;
          let port = 0;
          // A free port can be taken by someone else before the supervisor
          // binds it: try another.
          for (let attempt = 0; attempt < 3; attempt++) {
            port = freePort();
            outcome = await socketActivate(
              [
                `--listen=127.0.0.1:${port}`,
                `--listen=${path}`,
                "--fdname=web:admin",
              ],
              childCommand(runtime, "serve"),
              async () => {
                const tcp = tcpRead(port);
                return [await tcp, await unixRead(path)];
              },
            );
            if (!/Address already in use/.test(outcome.result.stderr)) break;
            rmSync(path, { force: true });
          }
          const report = parseReport(outcome!.result);
          assert.equal(report.error, undefined, String(report.error));
          assert.equal(report.runtime, runtime);
          assert.deepEqual(report.fds, [
            { name: "web", fd: 3, closeOnExec: true },
            { name: "admin", fd: 4, closeOnExec: true },
          ]);
          assert.equal(report.environment, String(report.pid));
          assert.deepEqual(report.served, [
            {
              name: "web",
              address: { family: "inet", address: "127.0.0.1", port },
            },
            { name: "admin", address: { family: "unix", address: path } },
          ]);
          assert.deepEqual(outcome!.replies, [
            `web served by ${runtime} ${report.pid}\n`,
            `admin served by ${runtime} ${report.pid}\n`,
          ]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    },
  );
}

/** Runs the child through `sh`, which sets `LISTEN_PID` to its own pid and execs it. */
function runActivated(
  runtime: "bun" | "deno",
  mode: string,
  env: Record<string, string>,
  fds: readonly OwnedFd[],
  pid: "self" | "other" = "self",
): Promise<RunResult> {
  const command = childCommand(runtime, mode);
  const script = pid === "self"
    ? 'LISTEN_PID=$$ exec "$@"'
    : 'LISTEN_PID=1 exec "$@"';
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", script, "sh", ...command], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe", ...fds.map((fd) => fd.fd)],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => stdout += s);
    child.stderr!.setEncoding("utf8").on("data", (s: string) => stderr += s);
    // Bounded like run(): a child that hangs (seen once under qemu-user, a
    // forked child stuck before its exec) fails this call by name instead
    // of running into the test's own timeout.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new Error(
            `${runtime} child (${mode}, LISTEN_PID ${pid}) still running after 60 s; stdout: ${stdout}; stderr: ${stderr}`,
          ),
        );
      } else resolve({ code, signal, stdout, stderr });
    });
  });
}

for (const runtime of ["bun", "deno"] as const) {
  test(
    `listenFds() in ${runtime}: [] for another process, errors for malformed variables, one owner per fd, unsetEnvironment (from ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        using listener = listenTcp();
        const fds = [listener as unknown as OwnedFd];
        // Meant for another process: nothing taken, nothing changed.
        const other = parseReport(
          await runActivated(
            runtime,
            "serve",
            { LISTEN_FDS: "1" },
            fds,
            "other",
          ),
        );
        assert.deepEqual(other.fds, []);
        assert.equal(other.environment, "1");
        // Not set at all.
        const [binary, ...args] = childCommand(runtime, "serve");
        const none = parseReport(await run(binary!, args));
        assert.deepEqual(none.fds, []);
        assert.equal(none.environment, null);
        // Set but empty: malformed, as sd_listen_fds() says (-EINVAL).
        const empty = parseReport(
          await run(binary!, args, { env: { LISTEN_PID: "" } }),
        );
        assert.match(empty.error ?? "", /LISTEN_PID="" is not a number/);
        // Malformed.
        for (
          const [env, message] of [
            [
              { LISTEN_FDS: "x" },
              /TypeError: .*LISTEN_FDS="x" is not a number/,
            ],
            [
              { LISTEN_FDS: "-1" },
              /TypeError: .*LISTEN_FDS="-1" is not a number/,
            ],
            [
              { LISTEN_FDS: "1", LISTEN_FDNAMES: "a:b" },
              /TypeError: .*LISTEN_FDNAMES has 2 names for 1 descriptors/,
            ],
            // Past the runtime's own descriptors, one is not open.
            [{ LISTEN_FDS: "1000" }, /SystemError: .*fd \d+.*EBADF/],
          ] as const
        ) {
          const report = parseReport(
            await runActivated(runtime, "serve", env, fds),
          );
          assert.match(report.error ?? "", message);
        }
        // Taken twice: the second call throws rather than make a second owner.
        const twice = parseReport(
          await runActivated(runtime, "twice", { LISTEN_FDS: "1" }, fds),
        );
        assert.deepEqual(twice.fds, [{
          name: "unknown",
          fd: 3,
          closeOnExec: true,
        }]);
        assert.match(
          String(twice.again),
          /an earlier listenFds\(\) call took them/,
        );
        // unsetEnvironment: gone for the process (and its children).
        const unset = parseReport(
          await runActivated(runtime, "unset", {
            LISTEN_FDS: "1",
            LISTEN_FDNAMES: "only",
          }, fds),
        );
        assert.deepEqual(unset.fds, [{
          name: "only",
          fd: 3,
          closeOnExec: true,
        }]);
        assert.equal(unset.environment, null);
        assert.equal(unset.again, 0);
        assert.deepEqual(unset.served, [{
          name: "only",
          address: listener.localAddress(),
        }]);
      });
    },
  );
}
