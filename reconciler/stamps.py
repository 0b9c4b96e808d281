"""When a file's or a directory's stat says it is unchanged: the rule the parse cache and the store share.

A stamp is (device, inode, size, mtime, ctime) in nanoseconds. An equal stamp means unchanged only
if the stamp had settled when it was taken: a change within the timestamp granularity of the last
one can leave mtime as it was (the same-second edit), and a utime call can set mtime back, but both
move ctime to now. So a stamp counts only when its mtime and ctime were older, when it was taken, by
more than any filesystem's granularity; a later change then always shows in ctime.
"""

from __future__ import annotations

import os
from typing import Final

# More than the coarsest timestamp granularity in use (2 s on FAT, 1 s on some network filesystems).
AMBIGUOUS_NS: Final = 3 * 10**9

Stamp = tuple[int, int, int, int, int]


def stamp(info: os.stat_result) -> Stamp:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def settled(taken: Stamp, before_ns: int) -> bool:
    """Whether `taken` (a stamp taken after `before_ns`, the wall clock in ns) may be trusted next time."""
    return max(taken[3], taken[4]) < before_ns - AMBIGUOUS_NS
