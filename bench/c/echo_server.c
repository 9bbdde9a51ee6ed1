/*
 * Blocking ping-pong peer. Listens on a Unix stream socket at <path>,
 * prints "ready" once listening, serves ONE connection and exits at EOF.
 * Each message is 64 B plus any fds; it echoes 64 B plus the fds it got,
 * then closes them.
 *
 *   echo_server <path>
 */
#include "common.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG 64
#define MAX_FDS 16

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: echo_server <path>\n");
    return 2;
  }
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) DIE("socket");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof sa.sun_path) {
    fprintf(stderr, "path too long\n");
    return 2;
  }
  strcpy(sa.sun_path, argv[1]);
  unlink(argv[1]);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("bind");
  if (listen(ls, 4) < 0) DIE("listen");
  printf("ready\n");
  fflush(stdout);

  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) DIE("accept");

  unsigned char buf[MSG];
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
  } rctl, sctl;
  struct iovec riov, siov = {.iov_base = buf, .iov_len = MSG};
  struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rctl.buf};
  struct msghdr smsg = {.msg_iov = &siov, .msg_iovlen = 1};
  int fds[MAX_FDS];
  long rounds = 0;

  for (;;) {
    int nfds = 0;
    size_t got = 0;
    while (got < MSG) {
      riov.iov_base = buf + got;
      riov.iov_len = MSG - got;
      rmsg.msg_controllen = sizeof rctl.buf;
      ssize_t n = recvmsg(c, &rmsg, MSG_CMSG_CLOEXEC);
      if (n < 0) {
        if (errno == EINTR) continue;
        DIE("recvmsg");
      }
      if (n == 0) {
        if (got != 0) fprintf(stderr, "echo_server: EOF mid-message\n");
        goto done;
      }
      if (rmsg.msg_flags & MSG_CTRUNC) fprintf(stderr, "echo_server: MSG_CTRUNC\n");
      for (struct cmsghdr *cm = CMSG_FIRSTHDR(&rmsg); cm; cm = CMSG_NXTHDR(&rmsg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        int cnt = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *p = (int *)CMSG_DATA(cm);
        for (int i = 0; i < cnt; i++) {
          if (nfds < MAX_FDS) fds[nfds++] = p[i];
          else close(p[i]);
        }
      }
      got += (size_t)n;
    }
    if (nfds > 0) {
      smsg.msg_control = sctl.buf;
      smsg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
      struct cmsghdr *cm = CMSG_FIRSTHDR(&smsg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
      memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    } else {
      smsg.msg_control = NULL;
      smsg.msg_controllen = 0;
    }
    ssize_t n;
    do n = sendmsg(c, &smsg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != MSG) DIE("sendmsg");
    for (int i = 0; i < nfds; i++) close(fds[i]);
    rounds++;
  }
done:
  close(c);
  close(ls);
  unlink(argv[1]);
  fprintf(stderr, "echo_server: %ld rounds\n", rounds);
  return 0;
}
