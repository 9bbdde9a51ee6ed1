"""A CPython supervisor that shares its listening TCP socket with fdpass.

Usage: py_tcp_listener.py PATH, where PATH is the parent's Unix stream
socket ("@name" for an abstract "\\0name"). It creates a *blocking*
listener on 127.0.0.1, sends it with one byte (socket.send_fds) and keeps
its own copy, then connects a client to it and says hello; the parent
accepts (from its received copy) and answers. Prints one JSON line: the
reply and whether the listener it still holds is still blocking.
"""

import fcntl
import json
import os
import socket
import sys


def main():
    path = sys.argv[1]
    if path.startswith("@"):
        path = "\0" + path[1:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        socket.send_fds(s, [str(port).encode()], [listener.fileno()])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"hello from python")
            client.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                chunk = client.recv(256)
                if not chunk:
                    break
                reply += chunk
        flags = fcntl.fcntl(listener.fileno(), fcntl.F_GETFL)
        print(json.dumps({
            "reply": reply.decode(),
            "blocking": (flags & os.O_NONBLOCK) == 0,
        }), flush=True)
        s.recv(1)  # until the parent closes its end
    listener.close()


main()
