/*
 * Blocking C ping-pong client. Each round trip sends 64 B + 1 fd (of
 * /dev/null) and receives 64 B + 1 fd, which it closes. Prints
 * {"rtt_ns":[...]} for the timed round trips.
 *
 *   pp_client <path> <warmup> <rounds>
 */
#include <sys/resource.h>
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG 64

static int sock;
static unsigned char sbuf[MSG], rbuf[MSG];
static union {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int))];
} sctl, rctl;
static struct iovec siov = {.iov_base = sbuf, .iov_len = MSG}, riov;
static struct msghdr smsg, rmsg;

static void round_trip(void) {
  if (sendmsg(sock, &smsg, MSG_NOSIGNAL) != MSG) DIE("sendmsg");
  size_t got = 0;
  int nfds = 0;
  while (got < MSG) {
    riov.iov_base = rbuf + got;
    riov.iov_len = MSG - got;
    rmsg.msg_controllen = sizeof rctl.buf;
    ssize_t n = recvmsg(sock, &rmsg, MSG_CMSG_CLOEXEC);
    if (n <= 0) DIE("recvmsg");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&rmsg); c; c = CMSG_NXTHDR(&rmsg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int *p = (int *)CMSG_DATA(c);
      for (int i = 0; i < cnt; i++) close(p[i]);
      nfds += cnt;
    }
    got += (size_t)n;
  }
  if (nfds != 1) {
    fprintf(stderr, "pp_client: expected 1 fd, got %d\n", nfds);
    exit(1);
  }
}

/* User + system CPU time of this process so far (getrusage), in ns. */
static uint64_t cpu_ns(void) {
  struct rusage u;
  if (getrusage(RUSAGE_SELF, &u) < 0) DIE("getrusage");
  return (uint64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000ull +
         (uint64_t)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000ull;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: pp_client <path> <warmup> <rounds>\n");
    return 2;
  }
  long warm = atol(argv[2]), rounds = atol(argv[3]);
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) DIE("socket");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
  if (connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) DIE("open");
  memset(sbuf, 'p', MSG);

  smsg.msg_iov = &siov;
  smsg.msg_iovlen = 1;
  smsg.msg_control = sctl.buf;
  smsg.msg_controllen = CMSG_SPACE(sizeof(int));
  struct cmsghdr *c = CMSG_FIRSTHDR(&smsg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &devnull, sizeof(int));
  rmsg.msg_iov = &riov;
  rmsg.msg_iovlen = 1;
  rmsg.msg_control = rctl.buf;

  uint64_t *rtt = malloc(sizeof(uint64_t) * (size_t)rounds);
  if (!rtt) DIE("malloc");
  for (long i = 0; i < warm; i++) round_trip();
  uint64_t cpu0 = cpu_ns();
  for (long i = 0; i < rounds; i++) {
    uint64_t t0 = now_ns();
    round_trip();
    rtt[i] = now_ns() - t0;
  }
  uint64_t cpu = cpu_ns() - cpu0;
  close(sock);
  printf("{\"cpu_ns\":%llu,\"rtt_ns\":[", (unsigned long long)cpu);
  for (long i = 0; i < rounds; i++) printf(i ? ",%llu" : "%llu", (unsigned long long)rtt[i]);
  fputs("]}\n", stdout);
  return 0;
}
