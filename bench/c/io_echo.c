/*
 * Echo server for the async I/O rows: reads 64-byte requests and writes
 * each back, blocking, until end of file.
 *
 * Usage: io_echo fifo <request-fifo> <response-fifo>   (prints "ready")
 *        io_echo tcp                                   (prints "ready <port>")
 */
#include "common.h"
#include "tcp_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG 64

static void echo(int in, int out) {
  char buf[MSG];
  for (;;) {
    size_t got = 0;
    while (got < MSG) {
      ssize_t n = read(in, buf + got, MSG - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) DIE("read");
      if (n == 0) return;
      got += (size_t)n;
    }
    size_t sent = 0;
    while (sent < MSG) {
      ssize_t n = write(out, buf + sent, MSG - sent);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) DIE("write");
      sent += (size_t)n;
    }
  }
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "fifo") == 0) {
    /* O_RDWR never blocks in open(2) on a FIFO; the client opens its ends
       the same way. */
    int in = open(argv[2], O_RDWR | O_CLOEXEC);
    int out = open(argv[3], O_RDWR | O_CLOEXEC);
    if (in < 0 || out < 0) DIE("open");
    printf("ready\n");
    fflush(stdout);
    echo(in, out);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "tcp") == 0) {
    int listener = listen_on_loopback(8);
    int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) DIE("accept4");
    int one = 1;
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    echo(conn, conn);
    return 0;
  }
  fprintf(stderr, "usage: io_echo fifo <req> <resp> | io_echo tcp\n");
  return 2;
}
