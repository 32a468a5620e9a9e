"""Process-wide runtime settings for the compute commands."""

from __future__ import annotations

import ctypes
import ctypes.util

_TUNED = False


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Ask glibc's malloc to keep freed memory instead of returning it to the OS.

    A training step allocates and frees tens of MB (the highway weight's bfloat16 copy and its
    float32 gradient, 12 and 24 MB at SeqGAN's size). By default glibc hands such blocks back
    to the kernel, and the next step pays a page fault per 4 kB page (thousands per step, slow
    in a VM). Raising the mmap and trim thresholds keeps them in the heap (blocks above 32 MB
    are still mapped and returned at once, and at most 256 MB of free heap top is kept, so
    memory stays proportional to the work: a 1 GB trim threshold kept whatever a peak had
    freed for the rest of the process). This changes the
    whole process and cannot be undone; the same effect can be had by setting
    ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` in the environment.

    Returns:
        True if the thresholds were set (glibc), False where ``mallopt`` is unavailable.
    """
    global _TUNED
    if _TUNED:
        return True
    path = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(path).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h> constants
    _TUNED = bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(mallopt(m_trim_threshold, trim_threshold))
    return _TUNED


def malloc_tuned() -> bool:
    """Whether ``keep_freed_memory()`` has been applied in this process."""
    return _TUNED


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MB (None where ``resource`` is unavailable)."""
    try:
        import resource
        import sys
    except ImportError:  # not on Unix
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB on Linux
