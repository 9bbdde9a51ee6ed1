/**
 * A process exits on its own once nothing is pending, and stays alive while
 * an async operation is: a child (Bun, and Deno with `--allow-ffi` only)
 * leaves a receive, a send, an accept or an aborted receive pending in the
 * reactor (seen armed in its /proc/<pid>/fdinfo), is checked to be still
 * running, then the parent lets the operation finish and the child must
 * exit by itself with its sockets still open. A child that does not exit
 * is killed and the test fails.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  abstractName,
  BIN,
  noLeak,
  REACTOR_PERMISSIONS,
  ROOT,
  RUNTIME,
} from "./_helpers.ts";
import {
  closeAll,
  EPOLLIN,
  EPOLLOUT,
  reactorArming,
  waitFor,
  within,
} from "./peers/async_support.ts";
import { connect, listen, type UnixSocket } from "../mod.ts";

const LONG = { timeout: 180_000 };
const encoder = new TextEncoder();

interface Child {
  readonly pid: number;
  /** Every line printed so far. */
  readonly lines: string[];
  /** The exit code, `undefined` while running. */
  code: number | null | undefined;
  readonly exited: Promise<number | null>;
  stderr: string;
  kill(): void;
}

function start(runtime: "bun" | "deno", mode: string, name: string): Child {
  const script = `${ROOT}/tests/peers/async_exit.ts`;
  const at = `@${name.slice(1)}`;
  const child = runtime === "bun"
    ? spawn(BIN.bun, [script, mode, at], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(
      BIN.deno,
      [
        "run",
        "--quiet",
        "--no-prompt",
        "--allow-ffi",
        ...REACTOR_PERMISSIONS,
        script,
        mode,
        at,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      },
    );
  let partial = "";
  const state: Child = {
    pid: child.pid!,
    lines: [],
    code: undefined,
    stderr: "",
    exited: new Promise((resolve) => {
      child.on("close", (code) => {
        state.code = code;
        resolve(code);
      });
    }),
    kill: () => child.kill("SIGKILL"),
  };
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    const parts = (partial + s).split("\n");
    partial = parts.pop()!;
    state.lines.push(...parts);
  });
  child.stderr!.setEncoding("utf8").on(
    "data",
    (s: string) => state.stderr += s,
  );
  return state;
}

/** The fd of the child's "pending FD" line. */
function pendingFd(child: Child): Promise<number> {
  return waitFor(`"pending" from the child (stderr: ${child.stderr})`, () => {
    if (child.code !== undefined) {
      throw new Error(`child exited early (${child.code}): ${child.stderr}`);
    }
    const line = child.lines.find((l) => l.startsWith("pending "));
    return line === undefined ? undefined : Number(line.slice(8));
  }, 60_000);
}

/**
 * Waits until `fd` is armed in the child's reactor, then checks the child is
 * still running a while later: it must not exit with an operation pending.
 */
async function staysAlive(
  child: Child,
  fd: number,
  events: number,
): Promise<void> {
  await waitFor(`fd ${fd} armed in the child's reactor`, () => {
    if (child.code !== undefined) {
      throw new Error(
        `child exited with an operation pending (${child.code}): ${child.stderr}`,
      );
    }
    return reactorArming(child.pid, fd, events);
  }, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(
    child.code,
    undefined,
    `child exited with an operation pending: ${
      child.lines.join(" | ")
    } ${child.stderr}`,
  );
}

/** Waits for the child to exit on its own; kills it and fails if it does not. */
async function exitsOnItsOwn(child: Child): Promise<void> {
  try {
    const code = await within(child.exited, "the child's exit", 60_000);
    assert.equal(code, 0, `exit code ${code}: ${child.stderr}`);
  } catch (error) {
    child.kill();
    await child.exited;
    throw error;
  }
  assert.equal(child.lines.at(-1), "done", child.lines.join(" | "));
}

/**
 * Starts a child in `mode` that connects twice (data, then control) and
 * waits in receive() on the data connection; once that wait is armed in its
 * reactor, runs `body`. The child is killed if it is still running after.
 */
async function withDataAndControl(
  runtime: "bun" | "deno",
  mode: string,
  body: (child: Child, data: UnixSocket, control: UnixSocket) => Promise<void>,
): Promise<void> {
  await noLeak(async () => {
    const name = abstractName(`exit-${mode}`);
    const listener = listen(name);
    const child = start(runtime, mode, name);
    const open: { close(): void }[] = [listener];
    try {
      const data = await within(listener.accept(), "accept", 60_000);
      open.push(data);
      const control = await within(listener.accept(), "accept", 60_000);
      open.push(control);
      await staysAlive(child, await pendingFd(child), EPOLLIN);
      await body(child, data, control);
    } finally {
      child.kill();
      await child.exited;
      closeAll(...open);
    }
  });
}

for (const runtime of ["bun", "deno"] as const) {
  test(
    `a ${runtime} child with a receive() pending stays alive until the peer sends, then exits on its own with the socket open (from ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const name = abstractName("exit-receive");
        const listener = listen(name);
        const child = start(runtime, "receive", name);
        const open: { close(): void }[] = [listener];
        try {
          const server = await within(listener.accept(), "accept", 60_000);
          open.push(server);
          await staysAlive(child, await pendingFd(child), EPOLLIN);
          await server.send(encoder.encode("wake up"));
          await exitsOnItsOwn(child);
          assert.ok(
            child.lines.includes("received wake up"),
            child.lines.join(" | "),
          );
        } finally {
          child.kill();
          await child.exited;
          closeAll(...open);
        }
      });
    },
  );

  test(
    `a ${runtime} child with a send() pending on a full buffer stays alive until the peer drains, then exits on its own (from ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const name = abstractName("exit-send");
        const listener = listen(name);
        const child = start(runtime, "send", name);
        const open: { close(): void }[] = [listener];
        try {
          const server = await within(listener.accept(), "accept", 60_000);
          open.push(server);
          await staysAlive(child, await pendingFd(child), EPOLLOUT);
          const buffer = new Uint8Array(65536);
          let total = 0;
          // Drain to the end of stream: the child closes it by exiting.
          for (;;) {
            const got = await within(server.receive(buffer), "receive", 60_000);
            if (got.eof) break;
            total += got.bytes;
          }
          await exitsOnItsOwn(child);
          assert.ok(
            child.lines.includes(`sent ${total}`),
            child.lines.join(" | "),
          );
        } finally {
          child.kill();
          await child.exited;
          closeAll(...open);
        }
      });
    },
  );

  test(
    `a ${runtime} child whose pending receive() is aborted exits on its own (from ${RUNTIME})`,
    LONG,
    () =>
      withDataAndControl(runtime, "abort", async (child, _data, control) => {
        await control.send(encoder.encode("stop"));
        await exitsOnItsOwn(child);
        assert.deepEqual(child.lines.slice(1), [
          "control stop",
          "aborted told to stop",
          "done",
        ]);
      }),
  );

  test(
    `a ${runtime} child whose receive() waited with an AbortSignal.timeout() exits once it resolves, even after adding and removing its own listener (from ${RUNTIME})`,
    LONG,
    () =>
      withDataAndControl(runtime, "timeout", async (child, data, control) => {
        await control.send(encoder.encode("go"));
        await waitFor(
          "the child's own listener",
          () => child.lines.includes("control go") || undefined,
          60_000,
        );
        await data.send(encoder.encode("wake up"));
        // The signal's timer has ten minutes left: only an unref'd timer
        // lets the child exit within the minute.
        await exitsOnItsOwn(child);
        assert.deepEqual(child.lines.slice(1), [
          "control go",
          "received wake up",
          "done",
        ]);
      }),
  );

  test(
    `a ${runtime} child with an accept() pending stays alive until a client connects, then exits on its own (from ${RUNTIME})`,
    LONG,
    async () => {
      await noLeak(async () => {
        const name = abstractName("exit-accept");
        const child = start(runtime, "accept", name);
        let client: UnixSocket | undefined;
        try {
          await staysAlive(child, await pendingFd(child), EPOLLIN);
          client = connect(name);
          await exitsOnItsOwn(child);
          assert.ok(child.lines.includes("accepted"), child.lines.join(" | "));
        } finally {
          child.kill();
          await child.exited;
          client?.close();
        }
      });
    },
  );
}
