"""Hands fdpass descriptors that only another program can make from
owned_fd_io_test.ts: a pseudo-terminal, an eventfd, a TCP connection.

Usage: py_give.py PATH WHAT, where PATH is the parent's stream socket (an
abstract name "\\0name" arrives as "@name": argv cannot hold NUL) and WHAT is

  pty        the master and the slave of a new pty (os.openpty)
  eventfd    one eventfd (counter 0)
  tcp:PORT   a TCP connection to 127.0.0.1:PORT

It sends them with one byte (socket.send_fds), closes its copies and exits.
"""

import os
import socket
import sys


def main():
    path, what = sys.argv[1], sys.argv[2]
    if path.startswith("@"):
        path = "\0" + path[1:]
    if what == "pty":
        fds = list(os.openpty())
    elif what == "eventfd":
        fds = [os.eventfd(0)]
    elif what.startswith("tcp:"):
        conn = socket.create_connection(("127.0.0.1", int(what[4:])))
        fds = [conn.detach()]
    else:
        raise SystemExit("unknown kind " + what)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        socket.send_fds(s, [b"x"], fds)
        for fd in fds:
            os.close(fd)
        # Wait until the parent has taken them (it closes its end).
        s.recv(1)


main()
