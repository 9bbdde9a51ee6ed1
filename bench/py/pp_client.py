"""Blocking CPython ping-pong client: 64 B + 1 fd each way.

Usage: pp_client.py <path> <warmup> <rounds>. Prints {"cpu_ns": N, "rtt_ns": [...]}
(cpu_ns: user + system CPU time of the timed rounds).
"""
import json
import os
import socket
import sys
import time

NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


def main():
    path, warm, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    data = [b"p" * 64]
    fds = [devnull]
    send_fds, recv_fds, close, clock = socket.send_fds, socket.recv_fds, os.close, time.perf_counter_ns

    def rt():
        send_fds(s, data, fds, NOSIGNAL)
        got = 0
        n = 0
        while got < 64:
            msg, rfds, _f, _a = recv_fds(s, 64 - got, 1, CLOEXEC)
            if not msg:
                raise EOFError("server closed")
            for fd in rfds:
                close(fd)
            n += len(rfds)
            got += len(msg)
        if n != 1:
            raise RuntimeError(f"expected 1 fd, got {n}")

    for _ in range(warm):
        rt()
    out = [0] * rounds
    cpu0 = time.process_time_ns()
    for i in range(rounds):
        t0 = clock()
        rt()
        out[i] = clock() - t0
    cpu = time.process_time_ns() - cpu0
    s.close()
    print(json.dumps({"cpu_ns": cpu, "rtt_ns": out}, separators=(",", ":")))


if __name__ == "__main__":
    main()
