"""Peak resident memory of this process, for the benchmarks that run each variant alone."""
from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process image's own peak resident set (Linux ``VmHWM``), in MiB.

    ``ru_maxrss`` would carry over the peak of the parent that forked this process (on
    Linux even across exec), so a child of a process that built a large graph would
    report the parent's peak; it is the fallback where ``/proc`` is missing.
    """
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
