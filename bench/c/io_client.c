/*
 * Blocking C client for the async I/O rows: writes 64 bytes, reads 64 back,
 * against bench/c/io_echo.c over two FIFOs or one TCP connection.
 *
 * Usage: io_client fifo <request-fifo> <response-fifo> <warmup> <rounds>
 *        io_client tcp <port> <warmup> <rounds>
 * Prints {"cpu_ns":N,"rtt_ns":[...]}.
 */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG 64

static uint64_t cpu_ns(void) {
  struct rusage u;
  if (getrusage(RUSAGE_SELF, &u) < 0) DIE("getrusage");
  return (uint64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000ull +
         (uint64_t)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000ull;
}

static void round_trip(int out, int in) {
  char buf[MSG];
  memset(buf, 'p', MSG);
  if (write(out, buf, MSG) != MSG) DIE("write");
  size_t got = 0;
  while (got < MSG) {
    ssize_t n = read(in, buf + got, MSG - got);
    if (n <= 0) DIE("read");
    got += (size_t)n;
  }
}

int main(int argc, char **argv) {
  int out, in;
  long warm, rounds;
  if (argc >= 6 && strcmp(argv[1], "fifo") == 0) {
    out = open(argv[2], O_RDWR | O_CLOEXEC);
    in = open(argv[3], O_RDWR | O_CLOEXEC);
    if (out < 0 || in < 0) DIE("open");
    warm = atol(argv[4]);
    rounds = atol(argv[5]);
  } else if (argc >= 5 && strcmp(argv[1], "tcp") == 0) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) DIE("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    out = in = s;
    warm = atol(argv[3]);
    rounds = atol(argv[4]);
  } else {
    fprintf(stderr, "usage: see the comment at the top\n");
    return 2;
  }
  uint64_t *rtt = malloc(sizeof(uint64_t) * (size_t)rounds);
  if (!rtt) DIE("malloc");
  for (long i = 0; i < warm; i++) round_trip(out, in);
  uint64_t cpu0 = cpu_ns();
  for (long i = 0; i < rounds; i++) {
    uint64_t t0 = now_ns();
    round_trip(out, in);
    rtt[i] = now_ns() - t0;
  }
  uint64_t cpu = cpu_ns() - cpu0;
  printf("{\"cpu_ns\":%llu,\"rtt_ns\":[", (unsigned long long)cpu);
  for (long i = 0; i < rounds; i++)
    printf(i ? ",%llu" : "%llu", (unsigned long long)rtt[i]);
  fputs("]}\n", stdout);
  return 0;
}
