"""``python -m fasprep ARGS`` in a subprocess, as a user runs it: one helper for the CLI tests."""

from __future__ import annotations

import subprocess
import sys


def fasprep_cli(*args, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """``python -m fasprep ARGS`` (each str()-ed), its output captured as text; ``kw`` go to
    :func:`subprocess.run` (``env``, ``cwd``...)."""
    return subprocess.run([sys.executable, "-m", "fasprep", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)
