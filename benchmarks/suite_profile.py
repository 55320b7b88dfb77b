"""Where the test suite's time goes: making mock videos and labelling them, per fixture folder.

    python benchmarks/suite_profile.py [PYTEST ARGS...]      (default: the whole suite, as README runs it)

Runs pytest with a ``sitecustomize`` hook on the path of every process it starts (the xdist
workers, the CLI subprocesses, the build's loky workers) that times each call of
:func:`fasprep.io.write_video` (rendering the frames it is given and encoding them) and of
:func:`fasprep.build.label_video` (decoding, tracking, depth, rPPG, writing one video's part).
Then prints the suite's wall and CPU time and, per temporary folder of the tests (the fixture or
test that made the videos) and kind, the seconds, videos, frames and ms per frame, largest first,
with the share of the suite's CPU time that making and labelling took. Seconds are each process's
wall time while the suite keeps every core busy: a measure of where the time goes, not of
per-frame speed (``benchmarks/synth.py``, ``benchmarks/build.py`` measure that). Processes of
the fault-injection cases, which put a ``sitecustomize`` of their own first on PYTHONPATH, are
not timed.
"""

from __future__ import annotations

import collections
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOOK = '''
import os, sys, time
log = os.environ["FASPREP_SUITE_PROFILE"]


def _logged(kind, fn, describe):
    def wrapper(*args, **kw):
        t0, out = time.perf_counter(), None
        try:
            out = fn(*args, **kw)
            return out
        finally:
            what, frames = describe(args, kw, out)
            with open(log, "a") as f:
                f.write(f"{kind}\\t{time.perf_counter() - t0:.3f}\\t{frames}\\t{what}\\n")
    return wrapper


def _io(m):
    m.write_video = _logged("make", m.write_video, lambda a, k, out: (
        f"{k.get('preset', m.DEFAULT_PRESET)}\\t{a[0]}", out if out is not None else -1))


def _build(m):
    m.label_video = _logged("label", m.label_video, lambda a, k, out: (
        f"{k['config'].depth_source}\\t{a[0].path}", (out or {}).get("n_frames_source", -1)))


PATCHES = {"fasprep.io": _io, "fasprep.build": _build}


class _Finder:
    """Times the two functions as their modules load, before anything imports them by name;
    a process that never loads them pays nothing."""

    def find_spec(self, name, path=None, target=None):
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            PATCHES[name](module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Finder())
'''


def _folder(path: str) -> str:
    """The tests' temporary folder a video lies in (pytest's ``popen-gwN/<name>N/``), numbering dropped."""
    parts = Path(path).parts
    for i, p in enumerate(parts):
        if p.startswith("popen-gw") and i + 1 < len(parts):
            return re.sub(r"\d+$", "", parts[i + 1])
    return str(Path(path).parent)


def main() -> None:
    args = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        hook = Path(tmp) / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        log = Path(tmp) / "calls.tsv"
        log.touch()
        env = dict(os.environ, FASPREP_SUITE_PROFILE=str(log),
                   PYTHONPATH=os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p))
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "pytest", "-q", *args], env=env)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        rows = [line.rstrip("\n").split("\t") for line in log.read_text().splitlines() if line.strip()]
    seconds, videos, frames = collections.Counter(), collections.Counter(), collections.Counter()
    totals = collections.Counter()
    for kind, secs, n, detail, path in rows:
        kind = f"{kind} {detail}"  # make <x264 preset>, label <depth source>
        key = (_folder(path), kind)
        seconds[key] += float(secs)
        videos[key] += 1
        frames[key] += max(int(n), 0)
        totals[kind.split()[0]] += float(secs)
    print(f"\npytest exit {res.returncode}; suite {wall:.0f} s wall, {cpu:.0f} CPU-s (user+sys of every process)")
    print(f"making videos {totals['make']:.0f} s, labelling {totals['label']:.0f} s "
          f"({(totals['make'] + totals['label']) / max(cpu, 1e-9):.0%} of the CPU time)")
    print(f"\n{'folder':<42}{'kind':<18}{'seconds':>9}{'videos':>8}{'frames':>9}{'ms/frame':>10}")
    for key, secs in sorted(seconds.items(), key=lambda kv: -kv[1]):
        ms = 1e3 * secs / frames[key] if frames[key] else float("nan")
        print(f"{key[0][:41]:<42}{key[1]:<18}{secs:>9.1f}{videos[key]:>8}{frames[key]:>9}{ms:>10.1f}")
    sys.exit(res.returncode)


if __name__ == "__main__":
    main()
