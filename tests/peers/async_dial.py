"""Connects to a listener only once a thread of the given process sleeps in poll().

Used by tests/listener_test.ts to show that acceptSync() on an empty,
nonblocking listener waits for a peer instead of failing with EAGAIN.

usage: async_dial.py PID PATH KIND  (PATH "@name": the abstract name "\\0name")
Prints "ready", then "blocked" ("gave up waiting" after 10 s, "no wait
channels" where the kernel hides them) before it connects,
sends b"dialed", and prints the reply.
"""

import os
import socket
import sys
import time

pid, path, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if path.startswith("@"):
    path = "\0" + path[1:]
print("ready", flush=True)


def wait_channels():
    # The thread running JavaScript: the main thread under Bun and `deno run`,
    # a Tokio thread under `deno test`. Look at them all.
    channels = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/wchan") as f:
                channels.append(f.read().strip())
        except OSError:
            pass  # the thread ended
    return channels


deadline = time.monotonic() + 10
state = "gave up waiting"
while time.monotonic() < deadline:
    channels = wait_channels()
    if all(c in ("", "0") for c in channels):
        # The kernel hides wait channels: connect a little later instead.
        state = "no wait channels"
        time.sleep(0.5)
        break
    # A thread sleeps in poll(2): do_sys_poll / poll_schedule_timeout.
    if any("poll_schedule" in c or "do_sys_poll" in c for c in channels):
        state = "blocked"
        break
    time.sleep(0.005)
print(state, flush=True)

types = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}
with socket.socket(socket.AF_UNIX, types[kind]) as s:
    s.connect(path)
    s.sendall(b"dialed")
    print("reply", s.recv(64).decode(), flush=True)
