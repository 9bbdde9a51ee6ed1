/**
 * A child for tests/process_exit_test.ts: it leaves one async operation
 * pending, says so on stdout, and must stay alive exactly as long as that
 * operation is pending, then exit on its own (its sockets still open).
 * Runs under Bun and under Deno with `--allow-ffi` only.
 *
 * usage: async_exit.ts MODE @NAME
 * - receive: connects, waits in receive() until the parent sends.
 * - send:    connects, fills the socket buffer, waits in send() until the
 *            parent drains.
 * - abort:   connects twice (data, then control), waits in receive() on both;
 *            when the control message comes, aborts the data receive.
 * - timeout: as abort, with an AbortSignal.timeout() of ten minutes; the
 *            control message makes the child add and remove a listener of
 *            its own on that signal, then the parent sends the data: the
 *            timer must not keep the child alive after the receive resolved.
 * - accept:  listens on NAME, waits in accept() until the parent connects.
 *
 * Prints "pending FD" (the fd waiting in the reactor), then what happened.
 *
 * @module
 */

import process from "node:process";
import { connect, listen, SystemError, type UnixSocket } from "../../mod.ts";

const args: string[] = (globalThis as { Deno?: { args: string[] } }).Deno
  ?.args ?? process.argv.slice(2);
const [mode, at] = args as [string, string];
const name = `\0${at.slice(1)}`;
const decoder = new TextDecoder();

async function message(
  socket: UnixSocket,
  signal?: AbortSignal,
): Promise<string> {
  const buffer = new Uint8Array(64);
  const got = await socket.receive(buffer, signal ? { signal } : {});
  return decoder.decode(buffer.subarray(0, got.bytes));
}

// Kept in module scope on purpose: open sockets must not keep a process alive.
const keep: unknown[] = [];

// No top-level await: Bun keeps a process with a pending top-level await
// alive by itself, which would hide whether fdpass keeps it alive.
async function main(): Promise<void> {
  switch (mode) {
    case "receive": {
      const socket = connect(name);
      keep.push(socket);
      const pending = message(socket);
      console.log(`pending ${socket.fd}`);
      console.log(`received ${await pending}`);
      break;
    }
    case "send": {
      const socket = connect(name);
      keep.push(socket);
      const chunk = new Uint8Array(65536);
      let filled = 0;
      for (;;) {
        try {
          filled += socket.sendSync(chunk, [], { nonblocking: true });
        } catch (error) {
          if (error instanceof SystemError && error.code === "EAGAIN") break;
          throw error;
        }
      }
      const pending = socket.send(new Uint8Array(100_000).fill(1));
      console.log(`pending ${socket.fd}`);
      console.log(`sent ${filled + await pending}`);
      break;
    }
    case "abort": {
      const data = connect(name);
      const control = connect(name);
      keep.push(data, control);
      const controller = new AbortController();
      const waiting = message(data, controller.signal).then(
        (text) => `received ${text}`,
        (error) => `aborted ${String(error)}`,
      );
      const order = message(control);
      console.log(`pending ${data.fd}`);
      console.log(`control ${await order}`);
      controller.abort("told to stop");
      console.log(await waiting);
      break;
    }
    case "timeout": {
      const data = connect(name);
      const control = connect(name);
      keep.push(data, control);
      const signal = AbortSignal.timeout(600_000);
      const waiting = message(data, signal);
      const order = message(control);
      console.log(`pending ${data.fd}`);
      console.log(`control ${await order}`);
      // Parked in the reactor by now, its abort listener on the signal.
      const mine = (): void => {};
      signal.addEventListener("abort", mine);
      signal.removeEventListener("abort", mine);
      console.log(`received ${await waiting}`);
      break;
    }
    case "accept": {
      const listener = listen(name);
      keep.push(listener);
      const pending = listener.accept();
      console.log(`pending ${listener.fd}`);
      keep.push(await pending);
      console.log("accepted");
      break;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().then(
  () => console.log("done"),
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
