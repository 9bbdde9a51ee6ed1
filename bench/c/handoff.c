/*
 * Connection handoff, C baseline: a front accepts TCP connections on
 * 127.0.0.1 and passes each to a worker process over a Unix socket pair
 * (1 byte + 1 fd, SCM_RIGHTS), then closes its copy; the worker receives the
 * connection, writes "ok\n" and closes it. Prints "ready <port>" once
 * listening; runs until killed.
 *
 * Usage: handoff
 */
#include "common.h"
#include "tcp_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void send_fd(int sock, int fd) {
  char byte = 'c';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) DIE("sendmsg");
  }
}

static int receive_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr msg = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t n;
  while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR) DIE("recvmsg");
  }
  if (n == 0) exit(0);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS) {
    fprintf(stderr, "handoff: message without a descriptor\n");
    exit(1);
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

int main(void) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    DIE("socketpair");
  pid_t pid = fork();
  if (pid < 0) DIE("fork");
  if (pid == 0) {
    close(pair[0]);
    for (;;) {
      int conn = receive_fd(pair[1]);
      if (write(conn, "ok\n", 3) != 3) DIE("write");
      close(conn);
    }
  }
  close(pair[1]);
  int listener = listen_on_loopback(1024);
  for (;;) {
    int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      DIE("accept4");
    }
    send_fd(pair[0], conn);
    close(conn);
  }
}
