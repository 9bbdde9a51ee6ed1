"""Signals every thread of a process, one by one (tgkill), many times.

Usage: fault_tgkill.py <pid> <signal number> <rounds>

A process-directed kill() reaches one thread (the main one when it does not
block the signal); this reaches the runtimes' helper threads too, such as the
thread fdpass's reactor waits in (epoll_wait, which returns EINTR even under
SA_RESTART). Prints how many signals were sent.
"""

import ctypes
import os
import sys
import time

SYS_TGKILL = {"x86_64": 234, "aarch64": 131}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)

pid, signal, rounds = (int(x) for x in sys.argv[1:4])
sent = 0
for _ in range(rounds):
    try:
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        break
    for tid in threads:
        if libc.syscall(SYS_TGKILL, pid, tid, signal) == 0:
            sent += 1
    time.sleep(0.001)
print(sent)
