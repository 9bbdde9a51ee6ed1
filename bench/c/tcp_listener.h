/* A TCP listener on 127.0.0.1 for the C baselines that serve TCP. */
#ifndef FDPASS_BENCH_TCP_LISTENER_H
#define FDPASS_BENCH_TCP_LISTENER_H

#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Listens on 127.0.0.1, on any free port, and prints "ready PORT" (what
 * bench/run.mjs waits for). Returns the listening descriptor. */
static inline int listen_on_loopback(int backlog) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) DIE("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("bind");
  if (listen(listener, backlog) < 0) DIE("listen");
  socklen_t len = sizeof sa;
  if (getsockname(listener, (struct sockaddr *)&sa, &len) < 0)
    DIE("getsockname");
  printf("ready %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  return listener;
}

#endif
