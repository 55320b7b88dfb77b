"""Seconds of `fasprep build DATASET RAW OUT --dry-run` over placeholders of whole releases.

    python benchmarks/dry_run.py [--workdir bench-out/dry-run]

Writes empty files named like the OULU-NPU release (4,950 videos, an eye-position file beside
each), the SiW release (the 4,469 real ids of tests/data/siw/siw_files.txt, a .face file
beside each) and the Replay-Attack, Replay-Mobile, CASIA-FASD and MSU-MFSD releases (names from
tests/release_trees.py, a face file of their format beside each), then times the dry run of each
in a fresh process (imports included: what a user waits for), three times, and prints the median
seconds, videos per second and each one's ratio to SiW (measured in the same run: the baseline).
The issue's bound: under 30 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def oulu_tree(root: Path) -> int:
    n = 0
    for split, users in (("Train", range(1, 21)), ("Dev", range(21, 36)), ("Test", range(36, 56))):
        folder = root / f"{split}_files"
        folder.mkdir(parents=True, exist_ok=True)
        for p in range(1, 7):
            for s in range(1, 4):
                for u in users:
                    for f in range(1, 6):
                        (folder / f"{p}_{s}_{u:02d}_{f}.avi").touch()
                        (folder / f"{p}_{s}_{u:02d}_{f}.txt").write_text("0,100,200,160,200\n" * 10)
                        n += 1
    return n


def siw_tree(root: Path) -> int:
    ids = (REPO / "tests" / "data" / "siw" / "siw_files.txt").read_text().split()
    for vid in ids:
        p = root / f"{vid}.mov"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
        p.with_suffix(".face").write_text("10 20 110 140\n" * 10)
    return len(ids)


def release_tree(names: list[str], face: str):
    """A tree maker for the placeholder names of tests/release_trees.py, ``face`` beside each video."""
    def make(root: Path) -> int:
        n = 0
        for name in names:
            if name.startswith("enroll/"):
                continue
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
            p.with_suffix(".face").write_text(face * 10)
            n += 1
        return n
    return make


def time_dry_run(dataset: str, raw: Path, out: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fasprep", "build", dataset, str(raw), str(out), "--dry-run"],
                       check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/dry-run"), help="Where the placeholder trees go.")
    ap.add_argument("--repeats", type=int, default=3, help="Runs per dataset (the median is printed).")
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    sys.path.insert(0, str(REPO / "tests"))
    import release_trees as rt

    xywh, corners = "0 10 20 100 120\n", "0,10,20,110,140\n"
    results = {}
    for dataset, make in (("siw", siw_tree), ("oulu-npu", oulu_tree),
                          ("replay-attack", release_tree(rt.replay_attack_names(), xywh)),
                          ("replay-mobile", release_tree(rt.replay_mobile_names(), xywh)),
                          ("casia-fasd", release_tree(rt.casia_names(), xywh)),
                          ("msu-mfsd", release_tree(rt.msu_names(), corners))):
        raw = args.workdir / dataset / "raw"
        n = make(raw)
        seconds = time_dry_run(dataset, raw, args.workdir / dataset / "out", args.repeats)
        results[dataset] = seconds
        print(f"{dataset:13s} {n:5d} videos: dry run {seconds:.2f} s (median of {args.repeats}), "
              f"{n / seconds:,.0f} videos/s, {seconds / results['siw']:.2f}x siw (baseline, same run)")
    print("bound: < 30 s")


if __name__ == "__main__":
    main()
