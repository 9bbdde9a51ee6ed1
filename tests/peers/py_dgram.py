"""CPython peer for dgram_address_test.ts: datagram addressing with
socket.sendmsg/recvmsg, both ways.

Usage: py_dgram.py SERVER OWN, where SERVER is the parent's bound datagram
socket and OWN the name this peer binds its server socket to (an abstract
name "\\0name" arrives as "@name": argv cannot hold NUL).

1. Binds OWN (the parent's client will send to it).
2. Autobinds a client socket (bind("") on Linux) and sends b"hello" with
   the read end of a pipe holding "from python" to SERVER.
3. Receives the parent's answer on the client socket: its data, the text
   read from the descriptor that came with it, and who sent it.
4. On OWN, receives one message with one descriptor from the parent's
   client and sends b"echo:" + data and the same descriptor back to the
   sender's address.

Prints one JSON object with what it saw; an abstract address is "\\0..."
"""

import array
import json
import os
import socket
import sys


def name(arg):
    return "\0" + arg[1:] if arg.startswith("@") else arg


def text(address):
    """An address as recvmsg/getsockname give it (bytes when abstract)."""
    if isinstance(address, bytes):
        return address.decode("utf-8", "surrogateescape")
    return address


def receive(sock):
    """(data, fds, sender) of one datagram with at most 4 descriptors."""
    fds = array.array("i")
    data, ancillary, _flags, sender = sock.recvmsg(
        256, socket.CMSG_SPACE(4 * fds.itemsize)
    )
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds), sender


def main():
    server, own = name(sys.argv[1]), name(sys.argv[2])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(own)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    client.bind("")  # Linux autobind: an abstract name of five hex digits
    r, w = os.pipe()
    os.write(w, b"from python")
    os.close(w)
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))]
    client.sendmsg([b"hello"], rights, 0, server)
    os.close(r)

    data, fds, sender = receive(client)
    answer = b""
    for fd in fds:
        answer += os.read(fd, 64)
        os.close(fd)

    echoed, echo_fds, asker = receive(listener)
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", echo_fds))]
    listener.sendmsg([b"echo:" + echoed], rights, 0, asker)
    for fd in echo_fds:
        os.close(fd)
    print(
        json.dumps(
            {
                "own": text(client.getsockname()),
                "reply": data.decode(),
                "replyFds": len(fds),
                "replyText": answer.decode(),
                "replyFrom": text(sender),
                "asker": text(asker),
                "askerFds": len(echo_fds),
            }
        )
    )
    client.close()
    listener.close()


main()
