"""CPython peer for python_peer_test.ts, speaking socket.send_fds/recv_fds.

Usage: py_fds.py MODE KIND PATH, where PATH is the parent's socket; an
abstract name "\\0name" arrives as "@name" (argv cannot hold NUL). The
rendezvous follows tests/peers/sync_channel.ts: connect (dgram: bind
PATH + "-peer", send to PATH), send b"ready".

MODE
  send     send a file it wrote and a pipe's write end; read the parent's
           answer from the pipe and the file's final contents
  receive  receive a file and a pipe's write end; read the file, append to it,
           answer through the pipe
  many     send 253 copies of a pipe's write end; read what comes back

Prints one JSON object with what it saw, including os.fstat inode numbers.
"""

import array
import json
import os
import socket
import sys
import tempfile

TYPES = {
    "stream": socket.SOCK_STREAM,
    "dgram": socket.SOCK_DGRAM,
    "seqpacket": socket.SOCK_SEQPACKET,
}
SCM_MAX_FD = 253


def identity(fd):
    st = os.fstat(fd)
    return {"dev": st.st_dev, "ino": st.st_ino}


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


def main():
    mode, kind, path = sys.argv[1:4]
    parent = "\0" + path[1:] if path.startswith("@") else path
    sock = socket.socket(socket.AF_UNIX, TYPES[kind])
    if kind == "dgram":
        sock.bind(parent + "-peer")
        address = parent
    else:
        sock.connect(parent)
        address = None

    def send(data, fds=()):
        if address is None:
            socket.send_fds(sock, [data], list(fds))
        else:
            # send_fds ignores its address argument before Python 3.12.
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            sock.sendmsg([data], rights if fds else [], 0, address)

    send(b"ready")
    out = {"mode": mode, "kind": kind}

    if mode == "send":
        with tempfile.TemporaryFile() as f:
            f.write(b"written by python")
            f.flush()
            f.seek(0)
            read_end, write_end = os.pipe()
            send(b"from python", [f.fileno(), write_end])
            out["file"] = identity(f.fileno())
            out["pipe"] = identity(write_end)
            os.close(write_end)
            out["answer"] = read_all(read_end)
            os.close(read_end)
            f.seek(0)
            out["contents"] = f.read().decode()
    elif mode == "receive":
        message, fds, _flags, _address = socket.recv_fds(sock, 1024, 16)
        out["message"] = message.decode()
        out["identities"] = [identity(fd) for fd in fds]
        file_fd, pipe_fd = fds
        out["contents"] = read_all(file_fd)
        os.write(file_fd, b" + python")
        os.write(pipe_fd, b"python got: " + message)
        for fd in fds:
            os.close(fd)
    elif mode == "many":
        read_end, write_end = os.pipe()
        send(b"many", [write_end] * SCM_MAX_FD)
        out["pipe"] = identity(write_end)
        os.close(write_end)
        out["answer"] = read_all(read_end)
        os.close(read_end)
    else:
        raise SystemExit("unknown mode " + mode)

    sock.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
