/**
 * Randomized stress across processes (issue 5): messages with 0 to 253
 * fds, random sizes, over stream, datagram and seqpacket sockets, random
 * receive buffer sizes (scattered or not), sync and async on both sides,
 * between this process and a child of each runtime. The protocol and its
 * checks are in `peers/stress_plan.ts` and `peers/stress_driver.ts`; the
 * long run (10⁴ messages) is `scripts/stress.ts`.
 *
 * The seed is random unless FDPASS_STRESS_SEED is set; a failure names it.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { noLeak, RUNTIME } from "./_helpers.ts";
import { warmReactor } from "./peers/fault_common.ts";
import { fdDiff, newSocketPair, runStress } from "./peers/stress_driver.ts";

const MESSAGES = Number(process.env.FDPASS_STRESS_MESSAGES ?? 500);

test("the per-step fd check ignores files the runtime opens itself and sees every fd fdpass could leak", () => {
  const base = new Map([[0, "/dev/null"], [3, "socket:[10]"]]);
  // Bun opens /proc/self/statm on its own between two steps.
  assert.equal(fdDiff(base, new Map([...base, [9, "/proc/5083/statm"]])), "");
  assert.equal(
    fdDiff(base, new Map([...base, [9, "pipe:[7]"]])),
    "+9 -> pipe:[7]",
  );
  assert.equal(
    fdDiff(base, new Map([...base, [9, "anon_inode:[pidfd]"]])),
    "+9 -> anon_inode:[pidfd]",
  );
  assert.equal(fdDiff(base, new Map([[0, "/dev/null"]])), "-3 -> socket:[10]");
  // A socket's number reused by a file still counts: the socket went.
  assert.equal(
    fdDiff(base, new Map([[0, "/dev/null"], [3, "/tmp/x"]])),
    "+3 -> /tmp/x, -3 -> socket:[10]",
  );
});

test("a socket pair the child's runtime opens late is told apart from single new sockets", () => {
  const base = new Map([[0, "/dev/null"], [3, "socket:[10]"]]);
  const pair = new Map([...base, [24, "socket:[773293]"], [
    25,
    "socket:[773294]",
  ]]);
  assert.deepEqual(newSocketPair(base, pair), [24, 25]);
  // One new socket, two unrelated ones, or one beside an old one: no pair.
  assert.deepEqual(
    newSocketPair(base, new Map([...base, [24, "socket:[773293]"]])),
    [],
  );
  assert.deepEqual(
    newSocketPair(
      base,
      new Map([...base, [24, "socket:[500]"], [25, "socket:[773294]"]]),
    ),
    [],
  );
  assert.deepEqual(
    newSocketPair(base, new Map([...base, [24, "socket:[11]"]])),
    [],
  );
  assert.deepEqual(
    newSocketPair(base, new Map([...base, [24, "pipe:[7]"], [25, "pipe:[8]"]])),
    [],
  );
});

for (const child of ["bun", "deno"] as const) {
  test(
    `${MESSAGES} random messages with 0 to 253 fds to a ${child} child (${RUNTIME}): each fd arrives once, is the file sent, and fd tables return to baseline in both processes`,
    { timeout: 300_000 },
    async () => {
      const seed = Number(
        process.env.FDPASS_STRESS_SEED ?? Math.floor(Math.random() * 2 ** 31),
      );
      await warmReactor();
      let figures;
      try {
        figures = await noLeak(() =>
          runStress({ child, messages: MESSAGES, seed })
        );
      } catch (error) {
        throw new Error(
          `stress failed with FDPASS_STRESS_SEED=${seed}: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
      assert.equal(figures.messages, MESSAGES);
      // The run covered what it claims to: every kind, 0 and 253 fds,
      // truncated datagrams and fd-only messages.
      for (const kind of ["stream", "dgram", "seqpacket"]) {
        assert.ok(
          figures.byKind[kind]! > 0,
          `no ${kind} message (seed ${seed})`,
        );
      }
      assert.ok(figures.maxFdSteps > 0, `no 253-fd message (seed ${seed})`);
      assert.ok(figures.truncated > 0, `no truncated message (seed ${seed})`);
      assert.ok(figures.empty > 0, `no fd-only message (seed ${seed})`);
      assert.ok(figures.asyncSteps > 0 && figures.asyncSteps < MESSAGES);
      assert.equal(figures.childFdChecks, MESSAGES + 1);
      console.log(`stress ${RUNTIME} -> ${child}: ${JSON.stringify(figures)}`);
    },
  );
}
