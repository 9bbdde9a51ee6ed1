/**
 * crosvm's "layout equals libc's" test: a few lines of C compiled with the
 * machine's `cc` print sizeof/offsetof, the CMSG_* macros and the constants
 * of the running machine's libc, and every number is compared with the
 * profile fdpass picks for this machine. Needs no FFI; skipped with a reason
 * where there is no compiler, no profile, or the compiler targets another
 * machine (for example a host `cc` while the suite runs under qemu).
 *
 * The probe is compiled and run once, at load, in a temporary directory that
 * is removed straight away.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  cmsgAlign,
  cmsgData,
  cmsgLen,
  cmsgSpace,
  INET_LAYOUTS,
  platformFor,
  type PlatformLayout,
} from "../platform/mod.ts";

const COMPILER = process.env.CC ?? "cc";
const layout = platformFor(process.platform, process.arch);

/** Payload lengths for which CMSG_LEN/CMSG_SPACE are printed. */
const PAYLOADS = [
  ...Array.from({ length: 65 }, (_, i) => i),
  ...Array.from({ length: 255 }, (_, n) => 4 * n),
];

function constantLines(prefix: string, names: readonly string[]): string {
  return names.map((name) =>
    `#ifdef ${name}\n  printf("${prefix} ${name} %lld\\n", (long long)(${name}));\n` +
    `#else\n  printf("${prefix} ${name} none\\n");\n#endif`
  ).join("\n");
}

function probeSource(profile: PlatformLayout): string {
  const constants = Object.keys(profile.constants);
  const epoll = profile.epollEvent === null
    ? []
    : Object.keys(profile.epollEvent).filter((k) => /^E[A-Z_]+$/.test(k));
  const errno = Object.keys(profile.errno);
  const stat = profile.fileStat === null ? [] : [
    "SYS_newfstatat",
    "AT_FDCWD",
    "AT_SYMLINK_NOFOLLOW",
  ];
  const poll = Object.keys(profile.pollfd).filter((k) => /^POLL/.test(k));
  return String.raw`#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#endif

#define SIZE(t) printf("sizeof %s %zu\n", #t, sizeof(t))
#define OFF(t, f) printf("offsetof %s.%s %zu\n", #t, #f, offsetof(t, f))
#define FSIZE(t, f) printf("fieldsize %s.%s %zu\n", #t, #f, sizeof(((t *)0)->f))

static union {
  struct cmsghdr header;
  unsigned char bytes[4096];
} control;

int main(void) {
#if defined(__linux__)
  printf("os linux\n");
#elif defined(__APPLE__)
  printf("os darwin\n");
#elif defined(__FreeBSD__)
  printf("os freebsd\n");
#else
  printf("os unknown\n");
#endif
#if defined(__x86_64__)
  printf("arch x86_64\n");
#elif defined(__aarch64__)
  printf("arch aarch64\n");
#else
  printf("arch unknown\n");
#endif
  SIZE(void *);
  SIZE(struct msghdr);
  OFF(struct msghdr, msg_name);
  OFF(struct msghdr, msg_namelen);
  OFF(struct msghdr, msg_iov);
  OFF(struct msghdr, msg_iovlen);
  FSIZE(struct msghdr, msg_iovlen);
  OFF(struct msghdr, msg_control);
  OFF(struct msghdr, msg_controllen);
  FSIZE(struct msghdr, msg_controllen);
  OFF(struct msghdr, msg_flags);
  SIZE(struct iovec);
  OFF(struct iovec, iov_base);
  OFF(struct iovec, iov_len);
  SIZE(struct cmsghdr);
  OFF(struct cmsghdr, cmsg_len);
  FSIZE(struct cmsghdr, cmsg_len);
  OFF(struct cmsghdr, cmsg_level);
  OFF(struct cmsghdr, cmsg_type);
  SIZE(struct sockaddr_un);
#if defined(__APPLE__) || defined(__FreeBSD__)
  OFF(struct sockaddr_un, sun_len);
#else
  printf("offsetof struct sockaddr_un.sun_len -1\n");
#endif
  OFF(struct sockaddr_un, sun_family);
  FSIZE(struct sockaddr_un, sun_family);
  OFF(struct sockaddr_un, sun_path);
  FSIZE(struct sockaddr_un, sun_path);
  SIZE(struct pollfd);
  SIZE(struct sockaddr_storage);
  SIZE(struct sockaddr_in);
  OFF(struct sockaddr_in, sin_family);
  FSIZE(struct sockaddr_in, sin_family);
  OFF(struct sockaddr_in, sin_port);
  OFF(struct sockaddr_in, sin_addr);
  SIZE(struct sockaddr_in6);
  OFF(struct sockaddr_in6, sin6_family);
  FSIZE(struct sockaddr_in6, sin6_family);
  OFF(struct sockaddr_in6, sin6_port);
  OFF(struct sockaddr_in6, sin6_flowinfo);
  OFF(struct sockaddr_in6, sin6_addr);
  OFF(struct sockaddr_in6, sin6_scope_id);
#if defined(__APPLE__) || defined(__FreeBSD__)
  OFF(struct sockaddr_in, sin_len);
  OFF(struct sockaddr_in6, sin6_len);
#else
  printf("offsetof struct sockaddr_in.sin_len -1\n");
  printf("offsetof struct sockaddr_in6.sin6_len -1\n");
#endif
  SIZE(struct stat);
  OFF(struct stat, st_dev);
  FSIZE(struct stat, st_dev);
  OFF(struct stat, st_ino);
  FSIZE(struct stat, st_ino);
  OFF(struct stat, st_mode);
  FSIZE(struct stat, st_mode);
  OFF(struct stat, st_nlink);
  FSIZE(struct stat, st_nlink);
  OFF(struct stat, st_uid);
  FSIZE(struct stat, st_uid);
  OFF(struct stat, st_gid);
  FSIZE(struct stat, st_gid);
  OFF(struct stat, st_rdev);
  FSIZE(struct stat, st_rdev);
  OFF(struct stat, st_size);
  FSIZE(struct stat, st_size);
  OFF(struct stat, st_blksize);
  FSIZE(struct stat, st_blksize);
  OFF(struct stat, st_blocks);
  FSIZE(struct stat, st_blocks);
#if defined(__APPLE__)
  printf("offsetof struct stat.st_atim %zu\n", offsetof(struct stat, st_atimespec));
  printf("offsetof struct stat.st_mtim %zu\n", offsetof(struct stat, st_mtimespec));
  printf("offsetof struct stat.st_ctim %zu\n", offsetof(struct stat, st_ctimespec));
#else
  OFF(struct stat, st_atim);
  OFF(struct stat, st_mtim);
  OFF(struct stat, st_ctim);
#endif
  SIZE(struct timespec);
  OFF(struct timespec, tv_nsec);
  OFF(struct pollfd, fd);
  OFF(struct pollfd, events);
  OFF(struct pollfd, revents);
#if defined(__linux__)
  SIZE(struct ucred);
  OFF(struct ucred, pid);
  OFF(struct ucred, uid);
  OFF(struct ucred, gid);
  SIZE(struct epoll_event);
  OFF(struct epoll_event, events);
  OFF(struct epoll_event, data);
#endif
#if defined(__APPLE__) || defined(__FreeBSD__)
  SIZE(struct xucred);
  OFF(struct xucred, cr_uid);
  OFF(struct xucred, cr_groups);
#endif
  printf("cmsgdata %td\n", CMSG_DATA(&control.header) - control.bytes);
  static const unsigned payloads[] = {${PAYLOADS.join(", ")}};
  for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
    unsigned p = payloads[i];
    printf("cmsglen %u %zu\n", p, (size_t)CMSG_LEN(p));
    printf("cmsgspace %u %zu\n", p, (size_t)CMSG_SPACE(p));
  }
  /* Where CMSG_NXTHDR puts the next header after one SCM_RIGHTS message of n fds. */
  for (unsigned n = 0; n <= 253; n++) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(control.bytes, 0, sizeof control.bytes);
    m.msg_control = control.bytes;
    m.msg_controllen = sizeof control.bytes;
    struct cmsghdr *first = CMSG_FIRSTHDR(&m);
    first->cmsg_len = CMSG_LEN(n * sizeof(int));
    first->cmsg_level = SOL_SOCKET;
    first->cmsg_type = SCM_RIGHTS;
    struct cmsghdr *next = CMSG_NXTHDR(&m, first);
    printf("cmsgnext %u %td\n", n, next == NULL ? (ptrdiff_t)-1 : (unsigned char *)next - control.bytes);
  }
${constantLines("const", [...constants, ...epoll, ...poll])}
${
    constantLines("inet", [
      "AF_INET",
      "AF_INET6",
      "SO_ACCEPTCONN",
      "SO_REUSEADDR",
    ])
  }
${constantLines("errno", errno)}
${constantLines("stat", stat)}
  return 0;
}
`;
}

type Probe =
  | { readonly ok: true; readonly values: ReadonlyMap<string, string> }
  | { readonly ok: false; readonly reason: string };

function runProbe(): Probe {
  if (layout === null) {
    return {
      ok: false,
      reason: `no fdpass profile for ${process.platform}-${process.arch}`,
    };
  }
  const version = spawnSync(COMPILER, ["--version"], { encoding: "utf8" });
  if (version.error !== undefined || version.status !== 0) {
    return {
      ok: false,
      reason: `no C compiler: \`${COMPILER} --version\` failed (${
        version.error?.message ?? `exit ${version.status}`
      }); set CC to one`,
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "fdpass-layout-"));
  try {
    const source = join(dir, "probe.c");
    const binary = join(dir, "probe");
    writeFileSync(source, probeSource(layout));
    const compiled = spawnSync(
      COMPILER,
      ["-std=gnu11", "-Wall", "-o", binary, source],
      { encoding: "utf8" },
    );
    if (compiled.status !== 0) {
      // A compiler that cannot build these few lines is a failure, not a skip.
      throw new Error(`${COMPILER} failed on the probe:\n${compiled.stderr}`);
    }
    const ran = spawnSync(binary, [], { encoding: "utf8" });
    if (ran.error !== undefined || ran.status !== 0) {
      return {
        ok: false,
        reason: `the probe ${COMPILER} built does not run here (${
          ran.error?.message ?? `exit ${ran.status}`
        }): the compiler targets another machine`,
      };
    }
    const values = new Map<string, string>();
    for (const line of ran.stdout.trim().split("\n")) {
      const space = line.lastIndexOf(" ");
      values.set(line.slice(0, space), line.slice(space + 1));
    }
    const target = `${values.get("os")}-${values.get("arch")}`;
    if (target !== layout.name) {
      return {
        ok: false,
        reason:
          `${COMPILER} targets ${target} but this runtime runs on ${layout.name}`,
      };
    }
    return { ok: true, values };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const probe = runProbe();
const options: { skip?: string } = probe.ok ? {} : { skip: probe.reason };
const name = layout?.name ?? `${process.platform}-${process.arch}`;

/** A number the probe printed; fails the test when it printed none. */
function c(key: string): number {
  assert.ok(probe.ok);
  const text = probe.values.get(key);
  assert.notEqual(text, undefined, `the probe printed no "${key}"`);
  assert.notEqual(text, "none", `libc does not define ${key}`);
  return Number(text);
}

/** The profile of this machine; only called from tests that run. */
function profile(): PlatformLayout {
  assert.ok(layout !== null);
  return layout;
}

/** Constants that kernel headers older than the running kernel may lack. */
const NEWER_THAN_HEADERS = new Set([
  "SO_PASSRIGHTS",
  "SO_PASSPIDFD",
  "SCM_PIDFD",
]);

test(`struct msghdr of ${name} equals libc's`, options, () => {
  const m = profile().msghdr;
  assert.equal(c("sizeof void *"), profile().pointerSize);
  assert.equal(c("sizeof struct msghdr"), m.size);
  assert.equal(c("offsetof struct msghdr.msg_name"), m.name);
  assert.equal(c("offsetof struct msghdr.msg_namelen"), m.namelen);
  assert.equal(c("offsetof struct msghdr.msg_iov"), m.iov);
  assert.equal(c("offsetof struct msghdr.msg_iovlen"), m.iovlen);
  assert.equal(c("offsetof struct msghdr.msg_control"), m.control);
  assert.equal(c("offsetof struct msghdr.msg_controllen"), m.controllen);
  assert.equal(c("offsetof struct msghdr.msg_flags"), m.flags);
  // glibc has size_t fields; musl an int plus padding in the same 8 bytes.
  const iovlen = c("fieldsize struct msghdr.msg_iovlen");
  const controllen = c("fieldsize struct msghdr.msg_controllen");
  // fdpass writes the whole slot, so a narrower field must own the padding.
  assert.ok(
    iovlen === m.iovlenSize ||
      (iovlen < m.iovlenSize && m.iovlen + m.iovlenSize <= m.control),
    `msg_iovlen is ${iovlen} bytes, the profile writes ${m.iovlenSize}`,
  );
  assert.ok(
    controllen === m.controllenSize ||
      (controllen < m.controllenSize &&
        m.controllen + m.controllenSize <= m.flags),
    `msg_controllen is ${controllen} bytes, the profile writes ${m.controllenSize}`,
  );
});

test(`struct iovec of ${name} equals libc's`, options, () => {
  assert.equal(c("sizeof struct iovec"), profile().iovecSize);
  assert.equal(c("offsetof struct iovec.iov_base"), 0);
  assert.equal(c("offsetof struct iovec.iov_len"), 8);
});

test(`struct cmsghdr of ${name} equals libc's`, options, () => {
  const h = profile().cmsghdr;
  assert.equal(c("sizeof struct cmsghdr"), h.size);
  assert.equal(c("offsetof struct cmsghdr.cmsg_len"), 0);
  const length = c("fieldsize struct cmsghdr.cmsg_len");
  assert.ok(
    length === h.lenSize || (length < h.lenSize && h.lenSize <= h.level),
    `cmsg_len is ${length} bytes, the profile reads ${h.lenSize}`,
  );
  assert.equal(c("offsetof struct cmsghdr.cmsg_level"), h.level);
  assert.equal(c("offsetof struct cmsghdr.cmsg_type"), h.type);
  assert.equal(c("cmsgdata"), cmsgData(h));
});

test(
  `CMSG_LEN/CMSG_SPACE/CMSG_ALIGN of ${name} equal libc's macros`,
  options,
  () => {
    const h = profile().cmsghdr;
    for (const payload of PAYLOADS) {
      assert.equal(
        cmsgLen(h, payload),
        c(`cmsglen ${payload}`),
        `LEN ${payload}`,
      );
      assert.equal(
        cmsgSpace(h, payload),
        c(`cmsgspace ${payload}`),
        `SPACE ${payload}`,
      );
      // CMSG_ALIGN is not portable C; CMSG_SPACE(x) - CMSG_SPACE(0) is.
      assert.equal(
        cmsgAlign(h, payload),
        c(`cmsgspace ${payload}`) - c("cmsgspace 0"),
        `ALIGN ${payload}`,
      );
    }
  },
);

test(
  `CMSG_ALIGN(cmsg_len), the step parseControl() takes, is where ${name}'s CMSG_NXTHDR goes`,
  options,
  () => {
    const h = profile().cmsghdr;
    for (let n = 0; n <= 253; n++) {
      const next = c(`cmsgnext ${n}`);
      // musl never returns a header whose payload would be empty at the very end
      // (§1.3), and none of these are at the end of the 4096-byte buffer.
      assert.equal(cmsgAlign(h, cmsgLen(h, 4 * n)), next, `${n} fds`);
    }
  },
);

test(`struct sockaddr_un of ${name} equals libc's`, options, () => {
  const s = profile().sockaddrUn;
  assert.equal(c("sizeof struct sockaddr_un"), s.size);
  assert.equal(c("offsetof struct sockaddr_un.sun_len"), s.len);
  assert.equal(c("offsetof struct sockaddr_un.sun_family"), s.family);
  assert.equal(c("fieldsize struct sockaddr_un.sun_family"), s.familySize);
  assert.equal(c("offsetof struct sockaddr_un.sun_path"), s.path);
  assert.equal(c("fieldsize struct sockaddr_un.sun_path"), s.pathSize);
});

test(
  `peer credentials and SCM_CREDENTIALS of ${name} match libc's structs`,
  options,
  () => {
    const p = profile().peerCredentials;
    if (profile().os === "linux") {
      // SO_PEERCRED and SCM_CREDENTIALS both carry struct ucred; parseControl
      // reads pid at 0, uid at 4, gid at 8 of CMSG_DATA and needs 12 bytes.
      assert.equal(c("sizeof struct ucred"), p.size);
      assert.equal(c("sizeof struct ucred"), 12);
      assert.equal(c("offsetof struct ucred.pid"), p.pid);
      assert.equal(c("offsetof struct ucred.pid"), 0);
      assert.equal(c("offsetof struct ucred.uid"), p.uid);
      assert.equal(c("offsetof struct ucred.uid"), 4);
      assert.equal(c("offsetof struct ucred.gid"), p.gid);
      assert.equal(c("offsetof struct ucred.gid"), 8);
      assert.equal(c("const SO_PEERCRED"), p.name);
      assert.equal(c("const SOL_SOCKET"), p.level);
    } else {
      assert.equal(c("sizeof struct xucred"), p.size);
      assert.equal(c("offsetof struct xucred.cr_uid"), p.uid);
      assert.equal(c("offsetof struct xucred.cr_groups"), p.gid);
    }
  },
);

test(
  `struct epoll_event and struct pollfd of ${name} equal libc's`,
  options,
  () => {
    const f = profile().pollfd;
    assert.equal(c("sizeof struct pollfd"), f.size);
    assert.equal(c("offsetof struct pollfd.fd"), f.fd);
    assert.equal(c("offsetof struct pollfd.events"), f.events);
    assert.equal(c("offsetof struct pollfd.revents"), f.revents);
    const e = profile().epollEvent;
    if (profile().os !== "linux") {
      assert.equal(e, null);
      return;
    }
    assert.ok(e !== null);
    assert.equal(c("sizeof struct epoll_event"), e.size);
    assert.equal(c("offsetof struct epoll_event.events"), e.events);
    assert.equal(c("offsetof struct epoll_event.data"), e.data);
  },
);

test(`struct stat of ${name} equals libc's`, options, () => {
  const s = profile().stat;
  assert.equal(c("sizeof struct stat"), s.size);
  const fields = [
    ["st_dev", s.dev],
    ["st_ino", s.ino],
    ["st_mode", s.mode],
    ["st_nlink", s.nlink],
    ["st_uid", s.uid],
    ["st_gid", s.gid],
    ["st_rdev", s.rdev],
    ["st_size", s.fileSize],
    ["st_blksize", s.blksize],
    ["st_blocks", s.blocks],
  ] as const;
  for (const [field, layout] of fields) {
    assert.equal(c(`offsetof struct stat.${field}`), layout.offset, field);
    assert.equal(c(`fieldsize struct stat.${field}`), layout.size, field);
  }
  assert.equal(c("offsetof struct stat.st_atim"), s.atime);
  assert.equal(c("offsetof struct stat.st_mtim"), s.mtime);
  assert.equal(c("offsetof struct stat.st_ctim"), s.ctime);
  // fdpass reads seconds and nanoseconds as two 64-bit words.
  assert.equal(c("sizeof struct timespec"), 16);
  assert.equal(c("offsetof struct timespec.tv_nsec"), 8);
});

test(
  `constants of ${name} equal libc's (0 where libc has none)`,
  options,
  () => {
    assert.ok(probe.ok);
    const p = profile();
    const expected: [string, number][] = Object.entries(p.constants);
    if (p.epollEvent !== null) {
      for (const [key, value] of Object.entries(p.epollEvent)) {
        if (/^E[A-Z_]+$/.test(key)) expected.push([key, value]);
      }
    }
    for (const [key, value] of Object.entries(p.pollfd)) {
      if (/^POLL/.test(key)) expected.push([key, value]);
    }
    const wrong: string[] = [];
    for (const [key, value] of expected) {
      const text = probe.values.get(`const ${key}`);
      // Kernel headers older than Linux 6.16 lack SO_PASSRIGHTS (6.5:
      // SO_PASSPIDFD, SCM_PIDFD): they cannot refute the profile's number
      // (platform_test checks it against §2).
      if (text === "none" && NEWER_THAN_HEADERS.has(key)) continue;
      const actual = text === "none" ? 0 : Number(text);
      if (actual !== value) {
        wrong.push(
          `${key}: profile ${value}, libc ${text}`,
        );
      }
    }
    assert.deepEqual(wrong, []);
  },
);

test(`errno numbers of ${name} equal libc's`, options, () => {
  assert.ok(probe.ok);
  const wrong: string[] = [];
  for (const [key, value] of Object.entries(profile().errno)) {
    const text = probe.values.get(`errno ${key}`);
    if (Number(text) !== value) {
      wrong.push(`${key}: profile ${value}, libc ${text}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test(
  `struct stat and the fstatat syscall of ${name} match libc's (a listener's socket file)`,
  options,
  () => {
    const f = profile().fileStat;
    if (profile().os !== "linux") {
      assert.equal(f, null);
      return;
    }
    assert.ok(f !== null);
    // The kernel fills its own struct stat; glibc's and musl's equal it on
    // x86_64 and aarch64, so the struct stat test above checks what the
    // syscall fills (profile().stat), and _socket_file.ts reads st_dev and
    // st_ino as 64-bit words.
    assert.equal(profile().stat.dev.size, 8);
    assert.equal(profile().stat.ino.size, 8);
    assert.equal(profile().stat.mode.size, 4);
    assert.equal(c("stat SYS_newfstatat"), f.syscall);
    assert.equal(c("stat AT_FDCWD"), f.AT_FDCWD);
    assert.equal(c("stat AT_SYMLINK_NOFOLLOW"), f.AT_SYMLINK_NOFOLLOW);
  },
);

test(
  `struct sockaddr_in, sockaddr_in6 and the inet constants of ${name} equal libc's`,
  options,
  () => {
    const inet = INET_LAYOUTS[profile().os];
    assert.equal(c("sizeof struct sockaddr_storage"), inet.sockaddrStorageSize);
    for (
      const [struct, prefix, s] of [
        ["sockaddr_in", "sin", inet.sockaddrIn],
        ["sockaddr_in6", "sin6", inet.sockaddrIn6],
      ] as const
    ) {
      assert.equal(c(`sizeof struct ${struct}`), s.size);
      assert.equal(c(`offsetof struct ${struct}.${prefix}_len`), s.len);
      assert.equal(c(`offsetof struct ${struct}.${prefix}_family`), s.family);
      assert.equal(
        c(`fieldsize struct ${struct}.${prefix}_family`),
        s.familySize,
      );
      assert.equal(c(`offsetof struct ${struct}.${prefix}_port`), s.port);
      assert.equal(c(`offsetof struct ${struct}.${prefix}_addr`), s.address);
    }
    assert.equal(
      c("offsetof struct sockaddr_in6.sin6_flowinfo"),
      inet.sockaddrIn6.flowInfo,
    );
    assert.equal(
      c("offsetof struct sockaddr_in6.sin6_scope_id"),
      inet.sockaddrIn6.scopeId,
    );
    for (
      const key of [
        "AF_INET",
        "AF_INET6",
        "SO_ACCEPTCONN",
        "SO_REUSEADDR",
      ] as const
    ) {
      assert.equal(c(`inet ${key}`), inet[key], key);
    }
  },
);
