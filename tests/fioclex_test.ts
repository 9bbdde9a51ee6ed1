/**
 * `ioctl(fd, FIOCLEX)` through the binding sets close-on-exec: the call
 * macOS needs after `accept`, `socket`, `socketpair` and `recvmsg` (it has
 * no `accept4`, `SOCK_CLOEXEC` or `MSG_CMSG_CLOEXEC`), made here on Linux
 * with Linux's FIOCLEX, the same binding and no variadic argument.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { noLeak, RUNTIME } from "./_helpers.ts";
import { libc } from "../_system.ts";

test(`ioctl(fd, FIOCLEX) sets FD_CLOEXEC on a descriptor that lacked it (${RUNTIME})`, async () => {
  await noLeak(() => {
    const lib = libc();
    const c = lib.platform.constants;
    const fds = new Int32Array(2);
    assert.equal(lib.pipe(fds, 0), 0);
    try {
      for (const fd of fds) {
        assert.equal(lib.fcntl(fd, c.F_GETFD, 0) & c.FD_CLOEXEC, 0);
        assert.equal(lib.ioctl(fd, c.FIOCLEX), 0);
        assert.equal(lib.fcntl(fd, c.F_GETFD, 0) & c.FD_CLOEXEC, c.FD_CLOEXEC);
      }
    } finally {
      for (const fd of fds) lib.close(fd);
    }
  });
});
