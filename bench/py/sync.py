"""Sync baseline in CPython: socketpair + socket.send_fds / socket.recv_fds.

Usage: sync.py <pairs> <pairs_253>. Prints one JSON line, ns per pair.
"""
import json
import os
import socket
import sys
import time

NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


def run_case(a, b, size, fds, pairs):
    data = [b"x" * size]
    maxfds = len(fds)
    send_fds = socket.send_fds
    recv_fds = socket.recv_fds
    close = os.close

    def loop(n):
        for _ in range(n):
            send_fds(a, data, fds, NOSIGNAL)
            got = 0
            while got < size:
                msg, rfds, _flags, _addr = recv_fds(b, size - got, maxfds, CLOEXEC)
                if not msg:
                    raise EOFError("peer closed")
                for fd in rfds:
                    close(fd)
                got += len(msg)

    loop(pairs // 10 + 1)
    t0 = time.perf_counter_ns()
    loop(pairs)
    return (time.perf_counter_ns() - t0) / pairs


def main():
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    pairs253 = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    out = {
        "fd1_64": run_case(a, b, 64, [devnull], pairs),
        "nofd_64": run_case(a, b, 64, [], pairs),
        "nofd_4k": run_case(a, b, 4096, [], pairs),
        "fd253_64": run_case(a, b, 64, [devnull] * 253, pairs253),
    }
    print(json.dumps({k: round(v, 1) for k, v in out.items()}))


if __name__ == "__main__":
    main()
