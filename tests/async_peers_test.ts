/**
 * Async ping-pong between processes, one fd each way every round, identity
 * checked at the end (see tests/peers/async_pingpong.ts): this process
 * against a child of the other runtime (Bun ↔ Deno, each side starting the
 * exchange) and against CPython's blocking send_fds/recv_fds, over stream
 * and seqpacket sockets. Deno children run with `--allow-ffi` only.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  abstractName,
  available,
  noLeak,
  ROOT,
  run,
  type RunResult,
  runScript,
  RUNTIME,
} from "./_helpers.ts";
import { within } from "./peers/async_support.ts";
import { connectWhenListening, ping, serve } from "./peers/async_pingpong.ts";
import { listen, type SocketKind } from "../mod.ts";

const ROUNDS = 500;
const LONG = { timeout: 180_000 };
const OTHER = RUNTIME === "bun" ? "deno" : "bun";
const python = available("python3", ["--version"]);

type Peer = "bun" | "deno" | "python";

/** Starts `peer` in `role` on `name`; its report is checked by {@linkcode settle}. */
function startPeer(
  peer: Peer,
  role: "serve" | "client",
  kind: SocketKind,
  name: string,
): Promise<RunResult> {
  const args = [role, kind, `@${name.slice(1)}`, String(ROUNDS)];
  const options = { timeoutMs: 120_000 };
  return peer === "python"
    ? run(
      "python3",
      [`${ROOT}/tests/peers/async_pingpong.py`, ...args],
      options,
    )
    : runScript(peer, "tests/peers/async_pingpong.ts", args, options);
}

/**
 * Runs this side of the exchange, then waits for the peer (which sees end of
 * stream and exits if this side failed) and checks its report. This side's
 * error, if any, is the one reported.
 */
async function settle(
  child: Promise<RunResult>,
  expected: string,
  body: () => Promise<void>,
): Promise<void> {
  let failure: unknown;
  try {
    await body();
  } catch (error) {
    failure = error;
  }
  const result = await child;
  if (failure !== undefined) throw failure;
  assert.equal(
    result.code,
    0,
    `peer failed (code ${result.code}, signal ${result.signal}): ${result.stderr}`,
  );
  assert.equal(result.stdout.trim(), expected, result.stderr);
}

for (const peer of [OTHER, "python"] as const) {
  for (const kind of ["stream", "seqpacket"] as const) {
    const skip = peer === "python" && !python
      ? "python3 is not installed"
      : false;

    test(
      `${RUNTIME} serves ${ROUNDS} async round trips, one fd each way, to a ${peer} client (${kind})`,
      { ...LONG, skip },
      async () => {
        await noLeak(async () => {
          const name = abstractName("pingpong-serve");
          using listener = listen(name, { kind });
          const child = startPeer(peer, "client", kind, name);
          await settle(child, `pinged ${ROUNDS}`, async () => {
            using socket = await within(listener.accept(), "accept", 60_000);
            await within(serve(socket, ROUNDS), "the exchange", 120_000);
          });
        });
      },
    );

    test(
      `${RUNTIME} runs ${ROUNDS} async round trips, one fd each way, against a ${peer} server (${kind})`,
      { ...LONG, skip },
      async () => {
        await noLeak(async () => {
          const name = abstractName("pingpong-client");
          const child = startPeer(peer, "serve", kind, name);
          await settle(child, `served ${ROUNDS}`, async () => {
            using socket = await within(
              connectWhenListening(name, kind),
              "connect",
              60_000,
            );
            await within(ping(socket, ROUNDS), "the exchange", 120_000);
          });
        });
      },
    );
  }
}
