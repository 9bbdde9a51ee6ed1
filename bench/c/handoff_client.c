/*
 * Load for the connection-handoff rows: `threads` threads each open
 * connections to 127.0.0.1:<port> one after another, read the answer to end
 * of stream (it must be "ok\n") and close, until `total` connections are
 * done. Prints {"conn_per_s": N, "p50_us": N, "p99_us": N}.
 *
 * Usage: handoff_client <port> <total> <threads>
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static long total;
static atomic_long next_index;
static uint64_t *latency;

static void *worker(void *unused) {
  (void)unused;
  for (;;) {
    long i = atomic_fetch_add(&next_index, 1);
    if (i >= total) return NULL;
    uint64_t t0 = now_ns();
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) DIE("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) DIE("connect");
    char buf[16];
    size_t got = 0;
    for (;;) {
      ssize_t n = read(s, buf + got, sizeof buf - got);
      if (n < 0) DIE("read");
      if (n == 0) break;
      got += (size_t)n;
      if (got == sizeof buf) break;
    }
    if (got != 3 || memcmp(buf, "ok\n", 3) != 0) {
      fprintf(stderr, "handoff_client: unexpected answer (%zu bytes)\n", got);
      exit(1);
    }
    close(s);
    latency[i] = now_ns() - t0;
  }
}

static int compare(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: handoff_client <port> <total> <threads>\n");
    return 2;
  }
  port = atoi(argv[1]);
  total = atol(argv[2]);
  int threads = atoi(argv[3]);
  latency = calloc((size_t)total, sizeof *latency);
  pthread_t *ids = calloc((size_t)threads, sizeof *ids);
  if (!latency || !ids) DIE("calloc");
  uint64_t t0 = now_ns();
  for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  double seconds = (double)(now_ns() - t0) / 1e9;
  qsort(latency, (size_t)total, sizeof *latency, compare);
  printf("{\"conn_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
         (double)total / seconds, (double)latency[total / 2] / 1e3,
         (double)latency[(total * 99) / 100] / 1e3);
  return 0;
}
