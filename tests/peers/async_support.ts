/**
 * Not a peer: shared by the async tests. Promise helpers that turn a hang
 * into a failure, and a look at fdpass's reactor from the outside, through
 * `/proc/<pid>/fdinfo`, which lists every fd an epoll set watches with its
 * armed events and its `epoll_data`. fdpass registers a
 * socket with `data = generation << 32 | fd` (generation ≥ 1), so its epoll
 * set can be told apart from the runtime's own (Bun's loop, Tokio).
 *
 * A test waits until a socket is armed in the reactor before it aborts,
 * closes or checks that a process stays alive, so that it exercises the
 * reactor rather than the few event-loop turns an operation spins first.
 * Reading another process' fdinfo needs only the test runner's permissions.
 *
 * With `FDPASS_REACTOR=poll` there is no epoll set to read: the reactor's
 * set is the `struct pollfd` array of a thread blocked in poll(2), found
 * through `/proc/<pid>/task/<tid>/syscall` (the call and its arguments) and
 * read from `/proc/<pid>/mem`. The helpers below then report that array as
 * one pseudo set, {@linkcode POLL_SET}, whose entries look like fdpass's
 * (generation 1: poll has no generations in the kernel).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
} from "node:fs";
import process from "node:process";
import { OwnedFd } from "../../mod.ts";

/** `EPOLLIN`: armed for reading. */
export const EPOLLIN = 0x1;
/** `EPOLLOUT`: armed for writing. */
export const EPOLLOUT = 0x4;

/** Whether this run's processes use the poll backend (`FDPASS_REACTOR=poll`). */
export const POLL_BACKEND: boolean = process.env.FDPASS_REACTOR === "poll";

/** The pseudo epoll fd that stands for every poll(2) set in a process. */
export const POLL_SET = -1;

// poll(2) and ppoll(2) by architecture (aarch64 has only ppoll).
const POLL_CALLS: Record<string, number[]> = { x64: [7, 271], arm64: [73] };

/** The entries of every `struct pollfd` array a thread of `pid` is blocked on. */
export function pollEntries(pid: number | "self"): EpollEntry[] {
  const calls = POLL_CALLS[process.arch] ?? [];
  const entries: EpollEntry[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return entries;
  }
  for (const tid of tasks) {
    let words: string[];
    try {
      words = readFileSync(`/proc/${pid}/task/${tid}/syscall`, "utf8").split(
        " ",
      );
    } catch {
      continue;
    }
    if (!calls.includes(Number(words[0]))) continue;
    const address = Number(BigInt(words[1]!));
    const count = Number(BigInt(words[2]!));
    if (count <= 0 || count > 65536) continue;
    const bytes = new Uint8Array(count * 8);
    let mem: number | undefined;
    try {
      mem = openSync(`/proc/${pid}/mem`, "r");
      readSync(mem, bytes, 0, bytes.length, address);
    } catch {
      continue; // The call returned and the memory moved on.
    } finally {
      if (mem !== undefined) closeSync(mem);
    }
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < count; i++) {
      const fd = view.getInt32(i * 8, true);
      if (fd < 0) continue;
      entries.push({
        fd,
        events: view.getInt16(i * 8 + 4, true),
        data: 1n << 32n | BigInt(fd),
      });
    }
  }
  return entries;
}

/** One fd watched by an epoll set. */
export interface EpollEntry {
  /** The watched fd, in the process that owns the epoll set. */
  fd: number;
  /** The events it is armed for now (0 apart from flags once a oneshot fired). */
  events: number;
  /** The registration's `epoll_data`. */
  data: bigint;
}

/** The entries of one epoll set (`epfd` in process `pid`); empty if it is gone. */
export function epollEntries(pid: number | "self", epfd: number): EpollEntry[] {
  if (epfd === POLL_SET) return pollEntries(pid);
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/fdinfo/${epfd}`, "utf8");
  } catch {
    return [];
  }
  const entries: EpollEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^tfd:\s+(\d+)\s+events:\s+([0-9a-f]+)\s+data:\s+([0-9a-f]+)/
      .exec(line);
    if (m === null) continue;
    entries.push({
      fd: Number(m[1]),
      events: parseInt(m[2]!, 16),
      data: BigInt(`0x${m[3]}`),
    });
  }
  return entries;
}

/** Whether `entry` is an fdpass registration (`generation << 32 | fd`). */
export function isReactorEntry(entry: EpollEntry): boolean {
  return (entry.data & 0xffff_ffffn) === BigInt(entry.fd) &&
    entry.data >> 32n >= 1n;
}

/** The epoll fds of process `pid` ({@linkcode POLL_SET} alone under poll). */
export function epollFds(pid: number | "self"): number[] {
  if (POLL_BACKEND) return [POLL_SET];
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      if (
        readlinkSync(`/proc/${pid}/fd/${name}`) === "anon_inode:[eventpoll]"
      ) {
        out.push(Number(name));
      }
    } catch {
      // Closed while we looked.
    }
  }
  return out;
}

/**
 * The epoll fd of the reactor in `pid` that has `fd` registered and armed
 * for `events` (EPOLLIN or EPOLLOUT), or `undefined`.
 */
export function reactorArming(
  pid: number | "self",
  fd: number,
  events: number,
): number | undefined {
  for (const epfd of epollFds(pid)) {
    for (const entry of epollEntries(pid, epfd)) {
      if (
        entry.fd === fd && isReactorEntry(entry) &&
        (entry.events & events) !== 0
      ) {
        return epfd;
      }
    }
  }
  return undefined;
}

/** Polls `condition` every few ms; throws after `timeoutMs` (a hang guard, not a timing check). */
export async function waitFor<T>(
  what: string,
  condition: () => T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Waits until the closed `fd` is no longer in the reactor's set `epfd`:
 * epoll removes it in close() itself; the poll backend replaces its set
 * once the interrupted call returns.
 */
export async function leftReactor(
  fd: number,
  epfd: number,
  what: string,
): Promise<void> {
  await waitFor(
    `${what} to leave the reactor`,
    () =>
      epollEntries("self", epfd).some((e) => e.fd === fd && isReactorEntry(e))
        ? undefined
        : true,
    POLL_BACKEND ? 30_000 : 0,
  );
}

/** Resolves once `fd` of this process is armed in fdpass's reactor; returns the reactor's epoll fd. */
export function armed(fd: number, events: number = EPOLLIN): Promise<number> {
  return waitFor(
    `fd ${fd} to be armed in the reactor`,
    () => reactorArming("self", fd, events),
  );
}

export interface Tracked<T> {
  readonly promise: Promise<T>;
  settled: boolean;
}

/** Remembers whether `promise` has settled, without handling its rejection. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { promise, settled: false };
  promise.then(
    () => tracked.settled = true,
    () => tracked.settled = true,
  );
  return tracked;
}

/** A promise that never settled: the failure a hang turns into. */
export class HangError extends Error {
  override name = "HangError";
}

/** Fails with a {@linkcode HangError} instead of hanging when `promise` never settles. */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  ms = 30_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HangError(`${what} did not settle in ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error `promise` rejects with; fails if it resolves or hangs. */
export async function rejection(
  promise: Promise<unknown>,
  what: string,
): Promise<unknown> {
  try {
    await within(promise, what);
  } catch (error) {
    if (error instanceof HangError) throw error;
    return error;
  }
  throw new assert.AssertionError({
    message: `${what} resolved, expected a rejection`,
  });
}

/** Lets a few macrotask turns pass (no timing is asserted on them). */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Closes every item (each close is idempotent). */
export function closeAll(...items: { close(): void }[]): void {
  for (const item of items) item.close();
}

/**
 * A second descriptor for the open file behind `fd` (which stays with its
 * owner). While it is open, closing `fd` does not release the socket, so the
 * kernel does not drop its epoll registration by itself: only fdpass's
 * `EPOLL_CTL_DEL` does.
 */
export function duplicate(fd: number): OwnedFd {
  const alias = new OwnedFd(fd);
  try {
    return alias.dup();
  } finally {
    alias.release();
  }
}
