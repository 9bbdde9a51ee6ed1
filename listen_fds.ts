/**
 * {@linkcode listenFds}: the descriptors a supervisor passed at start-up,
 * by systemd's socket-activation contract (`sd_listen_fds(3)`).
 *
 * @module
 */

import { libc, systemError } from "./_system.ts";
import { OwnedFd } from "./owned_fd.ts";

/** `SD_LISTEN_FDS_START`: passed descriptors begin at 3. */
const FIRST_FD = 3;

/** Options for {@linkcode listenFds}. */
export interface ListenFdsOptions {
  /**
   * Remove `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the
   * environment afterwards (whatever they held), so that child processes do
   * not inherit them (`sd_listen_fds(1)`). Default `false`.
   */
  unsetEnvironment?: boolean;
}

/** One descriptor passed by the supervisor. */
export interface ListenFd {
  /** The descriptor, from 3 up, close-on-exec, owned by this object. */
  readonly fd: OwnedFd;
  /** Its name from `LISTEN_FDNAMES` (`FileDescriptorName=`, `--fdname`), or `"unknown"`. */
  readonly name: string;
}

let taken = false;

function parseCount(text: string, variable: string): number {
  if (!/^[0-9]{1,10}$/.test(text)) {
    throw new TypeError(
      `Cannot take the passed descriptors: ${variable}=${
        JSON.stringify(text)
      } is not a number`,
    );
  }
  return Number(text);
}

/**
 * The descriptors passed by systemd (or `systemd-socket-activate`, or any
 * supervisor that follows `sd_listen_fds(3)`): when `LISTEN_PID` is this
 * process, `LISTEN_FDS` descriptors from fd 3 up, each made close-on-exec,
 * named by `LISTEN_FDNAMES` (colon-separated; `"unknown"` when unset).
 * Returns `[]` when the variables are unset or meant for another process.
 * Hand each one to `StreamListener.fromFd`, `UnixListener.fromFd` or
 * `UnixSocket.fromFd` as its type requires.
 *
 * The descriptors can be taken once per process: a second call that would
 * return them again throws, so that no two `OwnedFd`s ever own one number.
 *
 * Environment: Bun reads `process.env`. Deno reads the C environment through
 * libc's `getenv` (what `Deno.env` reads as well), so **no `--allow-env` is
 * needed** and no permission prompt appears: `--allow-ffi` alone (already
 * full access to the process) is enough. `unsetEnvironment` removes the
 * variables through libc's `unsetenv`, which `Deno.env`, `process.env` and
 * every child process then see, also without `--allow-env`.
 *
 * @throws {TypeError} when `LISTEN_PID`, `LISTEN_FDS` or `LISTEN_FDNAMES` is
 * malformed (not a number, or a different count of names), or an option
 * has the wrong type.
 * @throws {RangeError} when `LISTEN_FDS` would run past the largest fd.
 * @throws {SystemError} `EBADF` when a promised descriptor is not open.
 * @throws {Error} when an earlier call already took the descriptors.
 *
 * @example Serve a socket-activated TCP port
 * ```ts
 * import { listenFds, StreamListener } from "./mod.ts";
 *
 * // systemd-socket-activate --listen=127.0.0.1:8080 deno run --allow-ffi app.ts
 * for (const { fd, name } of listenFds()) {
 *   using listener = StreamListener.fromFd(fd);
 *   console.log(name, listener.localAddress());
 * }
 * console.log(listenFds().length); // 0: nothing was passed to this process
 * ```
 */
export function listenFds(options: ListenFdsOptions = {}): ListenFd[] {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      "Cannot take the passed descriptors: options must be an object",
    );
  }
  const unset = options.unsetEnvironment ?? false;
  if (typeof unset !== "boolean") {
    throw new TypeError(
      "Cannot take the passed descriptors: unsetEnvironment must be a boolean",
    );
  }
  const lib = libc();
  try {
    const pid = lib.getenv("LISTEN_PID");
    if (pid === undefined) return [];
    if (parseCount(pid, "LISTEN_PID") !== lib.getpid()) return [];
    const countText = lib.getenv("LISTEN_FDS");
    if (countText === undefined) return [];
    const count = parseCount(countText, "LISTEN_FDS");
    if (count === 0) return [];
    if (count > 0x7fff_ffff - FIRST_FD) {
      throw new RangeError(
        `Cannot take the passed descriptors: LISTEN_FDS=${count} is too many`,
      );
    }
    const namesText = lib.getenv("LISTEN_FDNAMES");
    const names = namesText === undefined
      ? new Array<string>(count).fill("unknown")
      : namesText.split(":");
    if (names.length !== count) {
      throw new TypeError(
        `Cannot take the passed descriptors: LISTEN_FDNAMES has ${names.length} names for ${count} descriptors`,
      );
    }
    if (taken) {
      throw new Error(
        "Cannot take the passed descriptors: an earlier listenFds() call took them (each may have one owner)",
      );
    }
    const c = lib.platform.constants;
    for (let fd = FIRST_FD; fd < FIRST_FD + count; fd++) {
      const flags = lib.fcntl(fd, c.F_GETFD, 0);
      if (flags < 0) {
        throw systemError(-flags, "fcntl", `Cannot take passed fd ${fd}`);
      }
      // ioctl(FIOCLEX), not fcntl(F_SETFD): it takes no variadic argument,
      // which Apple arm64 would pass on the stack.
      if ((flags & c.FD_CLOEXEC) === 0) {
        const r = lib.ioctl(fd, c.FIOCLEX);
        if (r < 0) {
          throw systemError(-r, "ioctl", `Cannot take passed fd ${fd}`);
        }
      }
    }
    taken = true;
    return names.map((name, i) => ({
      fd: new OwnedFd(FIRST_FD + i),
      name,
    }));
  } finally {
    if (unset) {
      for (const name of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) {
        lib.unsetenv(name);
      }
    }
  }
}
