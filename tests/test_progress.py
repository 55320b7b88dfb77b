"""Progress on a terminal is a bar; elsewhere, plain lines at intervals (readable in a log)."""

from __future__ import annotations

import io
import logging

from fasprep.progress import PlainProgress, progress_bar


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_plain_lines_every_interval_with_count_rate_and_eta(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("fasprep.progress.time.monotonic", clock)
    out = io.StringIO()  # not a terminal
    bar = progress_bar(total=40, desc="build siw", unit="video", interval=30, file=out)
    assert isinstance(bar, PlainProgress)
    with bar:
        for _ in range(10):  # 10 videos in 20 s: no line yet
            clock.t += 2
            bar.update()
        assert out.getvalue() == ""
        clock.t += 10  # 30 s: the first line
        bar.update(2)
        bar.set_postfix(failed=1)
        for _ in range(28):
            clock.t += 1
            bar.update()
    lines = out.getvalue().splitlines()
    assert lines[0] == "fasprep: build siw: 12/40 videos (30 %), 0:30 elapsed, ~1:10 left"
    assert lines[-1] == "fasprep: build siw: 40/40 videos (100 %), 0:58 elapsed; failed 1"
    assert len(lines) == 2


def test_disabled_progress_prints_nothing_and_logs_messages(caplog):
    out = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="fasprep.progress"):
        with progress_bar(range(3), desc="pack", enabled=False, file=out) as bar:
            assert list(bar) == [0, 1, 2]
            bar.write("fasprep: failed: a/b: no face")
    assert out.getvalue() == ""
    assert [r.getMessage() for r in caplog.records] == ["failed: a/b: no face"]


def test_a_terminal_gets_a_tqdm_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    from tqdm import tqdm

    out = Tty()
    with progress_bar(range(5), desc="decode", unit="frame", file=out) as bar:
        assert isinstance(bar, tqdm) and sum(bar) == 10
    assert "\rdecode:" in out.getvalue()  # redrawn in place
