"""Who holds a claim or a temp file, and whether that process is still alive.

A pid alone is not an identity: pids are reused, and a reboot resets them. An owner is therefore
(host, boot id, pid, start time of the pid in clock ticks since boot, from /proc/<pid>/stat). A
process is dead when it is on this host and either the boot changed, the pid is gone, or the pid
now belongs to a process that started at another time. An owner on another host cannot be checked
from here and counts as alive, so a claim is never taken from a process we cannot see.

The host is `$RECONCILER_HOST` when set, else the machine's host name: containers or runners that
share a host name can each name themselves, and tests run "another machine" as a local process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NamedTuple

from reconciler.records import Owner

Alive = Callable[[Owner], bool]  # whether the process behind an owner still runs


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@cache
def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def start_ticks(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot, 0 where /proc is missing, None if no such pid."""
    if not _has_proc():
        return _exists_without_proc(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return _exists_without_proc(pid)
    # The command name (field 2) may hold spaces and parentheses; fields after its last ")" are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished; only its parent has not reaped it yet
        return None
    return int(fields[19])


def _exists_without_proc(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0
    return 0


def host_name() -> str:
    """This machine's name in claims: $RECONCILER_HOST, or the host name."""
    return os.environ.get("RECONCILER_HOST") or _node_name()


def _node_name() -> str:
    if hasattr(os, "uname"):
        # What gethostname(2) returns, without importing socket (whose enums of every address family
        # cost a few ms of every plan's start-up).
        return os.uname().nodename
    import socket

    return socket.gethostname()


def current_owner() -> Owner:
    """The calling process as an owner."""
    pid = os.getpid()
    return Owner(host=host_name(), boot=_boot_id(), pid=pid, started=start_ticks(pid) or 0)


def is_alive(owner: Owner) -> bool:
    """False only when we can tell the owner's process is gone; see the module docstring."""
    if owner.host != host_name():
        return True
    if owner.boot != _boot_id():
        return False
    started = start_ticks(owner.pid)
    if started is None:
        return False
    # Without /proc the start time is unknown (0) and a live pid has to be taken at its word.
    return started == owner.started or 0 in (started, owner.started)


class Identity(NamedTuple):
    """Who a store's user is, and how it tells whether another owner is still running.

    A real run is `this_process()`. It is injected like the clock: the simulation gives each engine
    it starts (and crashes) an identity of its own, so a crashed engine's claims and temp files
    look dead to the next one, as they would after a real crash.
    """

    me: Owner
    alive: Alive


def this_process() -> Identity:
    return Identity(current_owner(), is_alive)
