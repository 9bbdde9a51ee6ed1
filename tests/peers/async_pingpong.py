"""The CPython twin of async_pingpong.ts, with blocking send_fds/recv_fds.

usage: async_pingpong.py serve|client stream|seqpacket @NAME N
Same protocol: round i, the client sends the u32 i with one fd; the server
writes 2i through it and sends i back with the same fd; the client writes
2i+1 through what came back, and finally reads 0..2N-1 from its own end.
"""

import os
import socket
import struct
import sys
import time

role, kind, at, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
name = "\0" + at[1:]
TYPES = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}


def receive_u32(sock):
    """Exactly 4 bytes and the fds that came with them; None at end of stream."""
    data, fds = b"", []
    while len(data) < 4:
        chunk, more, _flags, _addr = socket.recv_fds(sock, 4 - len(data), 4)
        fds += more
        if not chunk:
            if not data and not fds:
                return None
            raise RuntimeError(f"end of stream inside a message ({len(data)} bytes)")
        data += chunk
    return struct.unpack("<I", data)[0], fds


def expect_one(message, i, who):
    if message is None:
        raise RuntimeError(f"{who}: end of stream in round {i}")
    value, fds = message
    if value != i or len(fds) != 1:
        raise RuntimeError(f"{who}: round {i}: got {value} with {len(fds)} fds")
    return fds[0]


def serve(sock):
    for i in range(rounds):
        fd = expect_one(receive_u32(sock), i, "server")
        try:
            os.write(fd, struct.pack("<I", 2 * i))
            socket.send_fds(sock, [struct.pack("<I", i)], [fd])
        finally:
            os.close(fd)
    if receive_u32(sock) is not None:
        raise RuntimeError("server: expected end of stream")


def ping(sock):
    mine, travelling = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    data = b""
    with mine, travelling:
        for i in range(rounds):
            socket.send_fds(sock, [struct.pack("<I", i)], [travelling.fileno()])
            back = expect_one(receive_u32(sock), i, "client")
            try:
                os.write(back, struct.pack("<I", 2 * i + 1))
            finally:
                os.close(back)
            # Read as we go: 2N small writes would fill the socket buffer.
            while True:
                try:
                    data += mine.recv(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
        sock.shutdown(socket.SHUT_WR)
        travelling.close()
        # End of stream comes once the peer closed every copy it received.
        while True:
            chunk = mine.recv(65536)
            if not chunk:
                break
            data += chunk
        expected = b"".join(struct.pack("<I", k) for k in range(2 * rounds))
        if data != expected:
            raise RuntimeError(f"client: {len(data)} bytes came through the fds, not 0..{2 * rounds - 1}")


if role == "serve":
    with socket.socket(socket.AF_UNIX, TYPES[kind]) as listener:
        listener.bind(name)
        listener.listen()
        conn, _ = listener.accept()
        with conn:
            serve(conn)
    print(f"served {rounds}", flush=True)
else:
    deadline = time.monotonic() + 60
    while True:
        sock = socket.socket(socket.AF_UNIX, TYPES[kind])
        try:
            sock.connect(name)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    with sock:
        ping(sock)
    print(f"pinged {rounds}", flush=True)
