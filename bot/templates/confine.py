"""What a sandbox worker does to its own process, so that it cannot outgrow or outlive the bot.

Runs in the worker only. The bot kills a render that runs past its time limit, but the bot
may itself be killed (SIGKILL, a crash, an out-of-memory kill) while a worker is busy in a
template's loop. So a worker also:

- holds a CPU-time limit (``RLIMIT_CPU``) re-armed before each render: a render that uses
  more than its allowance gets SIGXCPU from the kernel, which ends the worker;
- dies with the bot: on Linux the kernel sends it SIGKILL when the bot goes
  (``prctl(PR_SET_PDEATHSIG)``), and everywhere a thread notices the bot is gone (the parent
  process id changes when a process is orphaned) and ends the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import threading
import time

PARENT_POLL = 0.5  # seconds between the portable watch's checks
_PR_SET_PDEATHSIG = 1


def limit_resources(memory_bytes: int) -> None:
    """Memory, files, core dumps and new processes (threads included: start them first)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def arm_cpu_limit(seconds: int) -> None:
    """Let the next render use ``seconds`` (to ``seconds + 1``) more of CPU time, no more.

    The limit counts the process's whole life, so it is moved on before each render; the
    kernel's granularity is a second.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + seconds + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def die_with_parent(parent: int, *, kernel: bool = True) -> None:
    """End this process when ``parent`` (the bot) is gone; call before limiting processes."""
    if kernel:
        _ask_kernel(signal.SIGKILL)
    if os.getppid() != parent:  # the bot went before the request above took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()


def _ask_kernel(signum: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def _watch(parent: int) -> None:
    # A busy render releases the GIL every few milliseconds, so this runs even then.
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)
