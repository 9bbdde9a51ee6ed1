/* Shared helpers for the fdpass C baselines. */
#ifndef FDPASS_BENCH_COMMON_H
#define FDPASS_BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define DIE(what)                                                        \
  do {                                                                   \
    fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, what,         \
            strerror(errno));                                            \
    exit(1);                                                             \
  } while (0)

#endif
