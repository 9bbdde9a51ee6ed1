/*
 * Sync baseline: one thread, socketpair(AF_UNIX, SOCK_STREAM), send+recv
 * pairs with a msghdr built once. Prints one JSON line with ns per pair for
 * each case.
 *
 *   sync <pairs> <pairs_253>
 */
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 253

static int sv[2];
static int devnull;
static unsigned char sbuf[4096], rbuf[4096];
static union {
  struct cmsghdr align;
  char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
} sctl, rctl;

static struct iovec siov, riov;
static struct msghdr smsg, rmsg;

/* Build the send and receive msghdr once for `len` bytes and `nfds` fds. */
static void setup(size_t len, int nfds) {
  memset(&smsg, 0, sizeof smsg);
  memset(&rmsg, 0, sizeof rmsg);
  siov.iov_base = sbuf;
  siov.iov_len = len;
  riov.iov_base = rbuf;
  riov.iov_len = len;
  smsg.msg_iov = &siov;
  smsg.msg_iovlen = 1;
  rmsg.msg_iov = &riov;
  rmsg.msg_iovlen = 1;
  if (nfds > 0) {
    smsg.msg_control = sctl.buf;
    smsg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&smsg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    int *p = (int *)CMSG_DATA(c);
    for (int i = 0; i < nfds; i++) p[i] = devnull;
    rmsg.msg_control = rctl.buf;
  }
}

static void one_pair(size_t len, int nfds) {
  ssize_t n = sendmsg(sv[0], &smsg, MSG_NOSIGNAL);
  if (n != (ssize_t)len) DIE("sendmsg");
  size_t got = 0;
  for (;;) {
    if (nfds > 0) rmsg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    riov.iov_base = rbuf + got;
    riov.iov_len = len - got;
    n = recvmsg(sv[1], &rmsg, MSG_CMSG_CLOEXEC);
    if (n <= 0) DIE("recvmsg");
    if (nfds > 0 && rmsg.msg_controllen > 0) {
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&rmsg); c; c = CMSG_NXTHDR(&rmsg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *p = (int *)CMSG_DATA(c);
        for (int i = 0; i < cnt; i++) close(p[i]);
      }
    }
    got += (size_t)n;
    if (got == len) break;
  }
}

static double run_case(size_t len, int nfds, long pairs) {
  setup(len, nfds);
  long warm = pairs / 10 + 1;
  for (long i = 0; i < warm; i++) one_pair(len, nfds);
  uint64_t t0 = now_ns();
  for (long i = 0; i < pairs; i++) one_pair(len, nfds);
  uint64_t t1 = now_ns();
  return (double)(t1 - t0) / (double)pairs;
}

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 100000;
  long pairs253 = argc > 2 ? atol(argv[2]) : 5000;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) DIE("socketpair");
  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) DIE("open /dev/null");
  memset(sbuf, 'x', sizeof sbuf);
  double a = run_case(64, 1, pairs);
  double b = run_case(64, 0, pairs);
  double c = run_case(4096, 0, pairs);
  double d = run_case(64, MAX_FDS, pairs253);
  printf("{\"fd1_64\":%.1f,\"nofd_64\":%.1f,\"nofd_4k\":%.1f,\"fd253_64\":%.1f}\n", a, b, c, d);
  return 0;
}
