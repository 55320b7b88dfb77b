"""Progress of long work: a bar on a terminal, plain periodic lines elsewhere (logs, CI, pipes).

A tqdm bar redrawn with carriage returns is unreadable in a log file, and a job that prints
nothing for an hour looks hung; so where stderr is not a terminal the same calls print one plain
line every ``interval`` seconds (and a last one at the end).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator

from tqdm import tqdm

log = logging.getLogger(__name__)

#: Seconds between plain progress lines.
INTERVAL_S = 30.0


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", enabled: bool = True, interval: float = INTERVAL_S, file=None):
    """A progress reporter for a loop or for manual ``update()`` calls.

    Parameters
    ----------
    iterable : iterable, optional
        Wrapped and iterated; else call ``update(n)``.
    total : int, optional
        Number of steps (``len(iterable)`` when it has one).
    desc, unit : str
        What is counted, e.g. ``desc="build siw", unit="video"``.
    enabled : bool
        False: nothing is shown; ``write`` messages go to this module's logger.
    interval : float > 0, seconds
        Time between plain lines when ``file`` is not a terminal.
    file : text stream, optional
        Where to report; standard error by default.

    Returns
    -------
    A tqdm bar (on a terminal) or a :class:`PlainProgress`; both support iteration, ``update``,
    ``set_postfix``, ``write``, ``close`` and use as a context manager.
    """
    file = sys.stderr if file is None else file
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if enabled and getattr(file, "isatty", lambda: False)():
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True, leave=False)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, enabled=enabled, interval=interval,
                         file=file)


class PlainProgress:
    """tqdm's interface, reported as a plain line every ``interval`` seconds."""

    def __init__(self, iterable=None, *, total=None, desc="", unit="it", enabled=True, interval=INTERVAL_S,
                 file=None):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.enabled, self.interval, self.file = enabled, float(interval), file or sys.stderr
        self.n, self.postfix = 0, ""
        self._start = self._last = time.monotonic()
        self._closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.enabled and now - self._last >= self.interval:
            self._last = now
            self._print()

    def set_postfix(self, **kw) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in kw.items())

    def write(self, message: str, file=None) -> None:
        if self.enabled:
            print(message, file=file or self.file, flush=True)
        else:
            log.warning("%s", message.removeprefix("fasprep: "))

    def close(self) -> None:
        if not self._closed and self.enabled and self.n and time.monotonic() - self._start >= self.interval:
            self._print()  # the final count, for runs long enough to have reported
        self._closed = True

    def line(self) -> str:
        """The progress line, e.g. ``build siw: 12/40 videos (30 %), 2:05 elapsed, ~4:52 left``."""
        elapsed = time.monotonic() - self._start
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        text = f"{self.desc}: {done} {self.unit}s"
        if self.total:
            text += f" ({100 * self.n / self.total:.0f} %)"
        text += f", {_clock(elapsed)} elapsed"
        if self.total and 0 < self.n < self.total:
            text += f", ~{_clock(elapsed * (self.total - self.n) / self.n)} left"
        return text + (f"; {self.postfix}" if self.postfix else "")

    def _print(self) -> None:
        print(f"fasprep: {self.line()}", file=self.file, flush=True)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
