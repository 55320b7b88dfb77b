"""Throughput, scaling, memory and storage of `fasprep build-siw` on 1080p clips.

    python benchmarks/build.py [--workdir bench-out/build] [--videos 4] [--seconds 10] [--depth-source sfm]
                               [--baseline SRC] [--profile]

Makes a small SiW-layout tree of 1920x1080 30 fps H.264 clips (SiW's format) from the real
face photo shipped with fasprep: live clips with a pulse, print and replay attacks (cached in
WORKDIR; 4 distinct clips, repeated under other names up to --videos, so that two workers
share the work evenly and their start-up is amortised as in a real build). Then, each in a fresh process, in one run:

- decode-only: a plain OpenCV read loop over every clip (FFmpeg's default threads): the floor
  any tool pays;
- the build with 1 worker and with 2 workers (default options: every frame labelled, 256 px
  JPEG crops, 32x32 sfm depth, rPPG), each into an empty OUT, and with 1 worker pinned to one
  core (no decode thread: the unit that `--workers N` multiplies on N cores);

and prints decode-only frames/s, build frames/s per worker, their ratio (target >= 0.5),
the speed-up from 1 to 2 workers (target >= 1.8x) and from the pinned worker to 2, the ceiling
of two one-core workers against decode-only (both targets together need 0.9 of it), peak RSS per worker (VmHWM of every worker
process, target < 1.5 GB) and stored bytes per frame (target <= 25 KB).

Then the cost of the integrity work (durable, atomic packing; shards checked before a re-run
trusts them): a no-op re-run and a repack (--shard-size change) of the 1-worker build, and the
shard checks alone, cold (sha256 of every shard) and cached. ``--baseline SRC`` runs the same
builds, re-run and repack with the fasprep source tree SRC (e.g. a worktree of the commit
before) in the same run, interleaved (baseline, this tree, this tree, baseline: the mean of
each), and prints the ratios.

``--profile`` instead times the stages of one worker's per-frame path (`label_video`, one
core) on the four distinct clips: decode, track, skin trace, crop + JPEG, fit, render, NRR,
rPPG, write, and what is left (landmark conversion, the gate, bookkeeping); it wraps the
functions `label_video` calls with timers, so the path timed is the build's own. Printed as
a table of ms per frame and share of the total.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

FPS = 30.0
SIZE = (1920, 1080)

DECODE_ONLY = """
import json, sys, time, cv2
n = 0; t0 = time.perf_counter()
for path in sys.argv[1:]:
    cap = cv2.VideoCapture(path)
    while True:
        ok, _ = cap.read()
        if not ok: break
        n += 1
print(json.dumps({"frames": n, "seconds": time.perf_counter() - t0}))
"""

BUILD = """
import json, sys, time
from fasprep.build import BuildConfig, build
raw, out, workers, source, shard_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
t0 = time.perf_counter()
r = build("siw", raw, out, config=BuildConfig(depth_source=source), workers=workers, progress=False,
          shard_bytes=shard_bytes)
dt = time.perf_counter() - t0
m = json.load(open(out + "/manifest.json"))
frames = sum(v["n_frames"] for v in m["videos"].values())
print(json.dumps({"frames": frames, "seconds": dt, "failed": r.n_failed,
                  "bytes": sum(s["bytes"] for s in m["shards"])}))
"""

PROFILE = """
import json, sys, time, tempfile, cv2
from collections import defaultdict
from pathlib import Path
from fasprep import build, depth as dp, depth_labels, face, shards
from fasprep.datasets import get_dataset

raw, source = sys.argv[1], sys.argv[2]
clips = set(sys.argv[3:])
spent = defaultdict(float)


def timed(stage, fn):
    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[stage] += time.perf_counter() - t0
    return wrapper


def timed_frames(fn):
    def wrapper(*a, **k):
        frames = fn(*a, **k)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                spent["decode"] += time.perf_counter() - t0
                return
            spent["decode"] += time.perf_counter() - t0
            yield frame
    return wrapper


build.iter_frames = timed_frames(build.iter_frames)
face.FaceTracker.landmarks = timed("track", face.FaceTracker.landmarks)
build.skin_mean_rgb = timed("skin trace", build.skin_mean_rgb)
build.crop_square = timed("crop + JPEG", build.crop_square)
shards.PartWriter.add_frame = timed("crop + JPEG", shards.PartWriter.add_frame)
build.analyse_trace = timed("rPPG", build.analyse_trace)
shards.PartWriter.finish = timed("write", shards.PartWriter.finish)
for name in ("fit_video", "project", "landmark_rmse_stack"):
    owner = dp.VideoFit if name == "project" else dp
    setattr(owner, name, timed("fit", getattr(owner, name)))
for name in ("render_z_stack", "depth_range_stack", "normalise_depth_stack"):
    setattr(dp, name, timed("render", getattr(dp, name)))
dp.nrr_grid_stack = timed("NRR", dp.nrr_grid_stack)
label_frames = timed("labels", depth_labels.label_frames)
build.label_frames = label_frames

config = build.BuildConfig(depth_source=source)
records = [r for r in get_dataset("siw").scan(raw).records if str(r.path) in clips]
cv2.setNumThreads(1)
n, total = 0, 0.0
with tempfile.TemporaryDirectory() as tmp:
    for r in records:
        with shards.PartWriter(Path(tmp) / (r.video_id.replace("/", "_") + ".h5"), r.video_id,
                               codec=config.frame_codec, crop_size=config.crop_size,
                               jpeg_quality=config.jpeg_quality) as writer:
            t0 = time.perf_counter()
            n += build.label_video(r, writer, config=config)["n_frames"]
            total += time.perf_counter() - t0
print(json.dumps({"frames": n, "total": total, "spent": spent}))
"""

CHECKS = """
import json, os, sys, time
from fasprep.shards import CHECKS_FILE, damaged_shards, read_manifest
out = sys.argv[1]
shards = read_manifest(out)["shards"]
if os.path.exists(os.path.join(out, CHECKS_FILE)):
    os.remove(os.path.join(out, CHECKS_FILE))
t0 = time.perf_counter(); assert not damaged_shards(out, shards); cold = time.perf_counter() - t0
t0 = time.perf_counter(); assert not damaged_shards(out, shards); warm = time.perf_counter() - t0
print(json.dumps({"cold": cold, "warm": warm}))
"""


UNIQUE = ["Train/live/001/001-1-1-1-1", "Train/spoof/001/001-1-2-1-1", "Train/spoof/001/001-1-3-1-1",
          "Train/live/001/001-1-1-2-1"]


def make_tree(root: Path, n_videos: int, seconds: float) -> Path:
    """Four distinct clips (live, print, replay, live); more videos are hard links to them under
    other subjects' names (the same work per video; generating 1080p clips is slow)."""
    from fasprep.synth import example_face
    from fasprep.synth.mock_tree import make_siw_tree

    if not all((root / f"{v}.mov").exists() for v in UNIQUE):
        print(f"generating {len(UNIQUE)} clips of {seconds:g} s at {SIZE[0]}x{SIZE[1]} in {root} ...", file=sys.stderr)
        make_siw_tree(root, UNIQUE, faces={1: example_face()}, seconds=seconds, fps=FPS, size=SIZE, progress=True)
    for k in range(len(UNIQUE), n_videos):
        src = UNIQUE[k % len(UNIQUE)]
        subject = f"{2 + k // len(UNIQUE):03d}"
        dst = src.replace("/001/001-", f"/{subject}/{subject}-")
        for ext in (".mov", ".face"):
            target = root / f"{dst}{ext}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(root / f"{src}{ext}", target)
    return root


def _peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return None


def run_measured(args: list[str], src: Path | None = None, *, one_core: bool = False) -> tuple[dict, float, list[float]]:
    """Run a script in a fresh process (importing fasprep from ``src`` when given; pinned to one
    CPU with ``one_core``); return its JSON line, its peak RSS and those of its child processes,
    MB (sampled VmHWM: the peak so far, so the last sample is the peak)."""
    import psutil

    if one_core:  # before anything is imported: what the build sees is one core
        args = [f"import os; os.sched_setaffinity(0, {{{min(os.sched_getaffinity(0))}}})\n" + args[0], *args[1:]]

    env = None
    if src is not None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peaks: dict[int, float] = {}

    def sample():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                for p in [root] + root.children(recursive=True):
                    rss = _peak_rss_mb(p.pid)
                    if rss:
                        peaks[p.pid] = max(peaks.get(p.pid, 0.0), rss)
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed:\n{err}")
    root = peaks.pop(proc.pid, 0.0)
    return json.loads(out.strip().splitlines()[-1]), root, list(peaks.values())


#: Rows of the --profile table, in the order of the per-frame path ("labels" is fit, render and
#: NRR together with the rest of label_frames: landmark conversion, the gate).
STAGES = ["decode", "track", "skin trace", "crop + JPEG", "fit", "render", "NRR", "labels, other", "rPPG", "write"]


def profile(raw: Path, depth_source: str) -> None:
    """The --profile table: ms per frame of each stage of label_video, one core."""
    load = os.getloadavg()[0]
    clips = [str(raw / f"{v}.mov") for v in UNIQUE]
    result, peak, _ = run_measured([PROFILE, str(raw), depth_source, *clips])
    spent, frames, total = result["spent"], result["frames"], result["total"]
    spent["labels, other"] = spent.pop("labels") - sum(spent.get(k, 0.0) for k in ("fit", "render", "NRR"))
    spent["other"] = total - sum(spent.get(k, 0.0) for k in STAGES)
    print(f"per-frame path of one worker (label_video): {len(clips)} clips, {frames} frames of {SIZE[0]}x{SIZE[1]} "
          f"H.264, depth source {depth_source}, one core; load average {load:.1f} -> {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs; peak RSS {peak:.0f} MB")
    print(f"  {'stage':<16} {'ms/frame':>9} {'share':>7}")
    for stage in STAGES + ["other"]:
        ms = spent.get(stage, 0.0) / frames * 1000
        print(f"  {stage:<16} {ms:9.2f} {spent.get(stage, 0.0) / total:7.1%}")
    print(f"  {'total':<16} {total / frames * 1000:9.2f} {1:7.1%}  ({frames / total:.1f} frames/s; "
          f"decode alone {frames / spent['decode']:.1f} frames/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/build"))
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--depth-source", choices=["sfm", "mesh"], default="sfm")
    ap.add_argument("--baseline", type=Path, default=None, metavar="SRC",
                    help="A fasprep source tree to measure the same builds with, for before/after ratios.")
    ap.add_argument("--profile", action="store_true",
                    help="Time the stages of the per-frame path on the distinct clips instead (one worker).")
    a = ap.parse_args()
    raw = make_tree(a.workdir / "raw", a.videos, a.seconds)
    clips = sorted(str(p) for p in raw.rglob("*.mov"))
    if a.profile:
        profile(raw, a.depth_source)
        return

    big = str(2 << 30)
    load = os.getloadavg()[0]
    # Decode-only, this tree's builds and the baseline's, in the order A B C .. C B A: each
    # figure the mean of its two runs, so that a drift of a shared machine's load favours none.
    # "1c": one worker pinned to one core (the build then sees one core: no decode thread), the
    # unit that --workers N multiplies on N cores.
    order = ["decode", (1, None), ("1c", None), (2, None)] + ([(1, a.baseline), (2, a.baseline)] if a.baseline else [])
    fps: dict = {}
    runs, base = {}, {}
    for item in order + order[::-1]:
        if item == "decode":
            decode = run_measured([DECODE_ONLY, *clips])[0]
            fps.setdefault(item, []).append(decode["frames"] / decode["seconds"])
            continue
        workers, src = item
        out = a.workdir / (f"out-{workers}" if src is None else f"base-{workers}")
        shutil.rmtree(out, ignore_errors=True)
        n_workers = 1 if workers == "1c" else workers
        result, root_peak, child_peaks = run_measured([BUILD, str(raw), str(out), str(n_workers), a.depth_source, big],
                                                      src, one_core=workers == "1c")
        if result["failed"]:
            raise SystemExit(f"{result['failed']} videos failed; see {out}/failures.csv")
        fps.setdefault(item, []).append(result["frames"] / result["seconds"])
        # One worker runs in the build's own process (joblib runs n_jobs=1 inline); more are
        # loky worker processes.
        worker_peak = root_peak if workers in (1, "1c") else max(child_peaks)
        seen = (runs if src is None else base).get(workers, {}).get("peak_rss_mb", 0.0)
        (runs if src is None else base)[workers] = {**result, "fps": sum(fps[item]) / len(fps[item]),
                                                    "peak_rss_mb": max(seen, worker_peak)}
    decode_fps = sum(fps["decode"]) / len(fps["decode"])
    # The integrity work: a no-op re-run, a repack, the shard checks alone.
    again, repack = {}, {}
    for name, src in [("new", None)] + ([("base", a.baseline)] if a.baseline else []):
        out = a.workdir / ("out-1" if src is None else "base-1")
        total = runs[1]["bytes"]
        again[name] = run_measured([BUILD, str(raw), str(out), "1", a.depth_source, big], src)[0]["seconds"]
        repack[name] = run_measured([BUILD, str(raw), str(out), "1", a.depth_source, str(total // 3)],
                                    src)[0]["seconds"]
    checks = run_measured([CHECKS, str(a.workdir / "out-1")])[0]

    one, two, unit = runs[1], runs[2], runs["1c"]
    print(f"build-siw benchmark: {len(clips)} clips, {decode['frames']} frames of {SIZE[0]}x{SIZE[1]} H.264, "
          f"{os.cpu_count()} CPUs, depth source {a.depth_source}; each figure the mean of 2 runs, interleaved; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"  decode-only (OpenCV read loop):        {decode_fps:7.1f} frames/s")
    print(f"  build, 1 worker:                       {one['fps']:7.1f} frames/s  "
          f"(ratio to decode-only {one['fps'] / decode_fps:.2f}, target >= 0.5)")
    print(f"  build, 2 workers:                      {two['fps']:7.1f} frames/s  "
          f"({two['fps'] / 2:.1f} per worker)")
    print(f"  speed-up 1 -> 2 workers:               {two['fps'] / one['fps']:7.2f}x  (target >= 1.8x)")
    print(f"  build, 1 worker pinned to one core:    {unit['fps']:7.1f} frames/s  (2 workers / this "
          f"{two['fps'] / unit['fps']:.2f}x: the speed-up when each worker has a core)")
    # Both targets at once ask 2 workers for >= 1.8 * 0.5 = 0.9 x decode-only; with one core a
    # worker they can reach at most twice the pinned worker's rate.
    print(f"  ceiling on {os.cpu_count()} cores, 2 x the pinned worker: {2 * unit['fps'] / decode_fps:.2f} x "
          f"decode-only (both targets together need >= 0.90)")
    print(f"  peak RSS per worker:                   {max(one['peak_rss_mb'], two['peak_rss_mb']):7.0f} MB "
          f"(1 worker {one['peak_rss_mb']:.0f}, 2 workers {two['peak_rss_mb']:.0f}; target < 1500)")
    print(f"  stored bytes per frame:                {one['bytes'] / one['frames'] / 1e3:7.1f} KB  (target <= 25)")
    print(f"  no-op re-run:                          {again['new']:7.2f} s;  repack to 3 shards {repack['new']:.2f} s")
    print(f"  shard checks alone:                    {checks['cold']:7.3f} s cold (sha256), {checks['warm']:.4f} s "
          f"cached; {checks['cold'] / one['seconds']:.2%} of the 1-worker build")
    if a.baseline:
        print(f"  baseline {a.baseline}, same run:")
        for workers in (1, 2):
            print(f"    build, {workers} worker(s): {base[workers]['fps']:7.1f} frames/s "
                  f"(ratio to decode-only {base[workers]['fps'] / decode_fps:.2f}); this tree / baseline "
                  f"{runs[workers]['fps'] / base[workers]['fps']:.3f}")
        print(f"    speed-up 1 -> 2 workers {base[2]['fps'] / base[1]['fps']:.2f}x; peak RSS per worker "
              f"{max(base[1]['peak_rss_mb'], base[2]['peak_rss_mb']):.0f} MB; stored bytes per frame "
              f"{base[1]['bytes'] / base[1]['frames'] / 1e3:.1f} KB")
        print(f"    no-op re-run {again['base']:.2f} s (this tree {again['new'] / again['base']:.2f}x); "
              f"repack {repack['base']:.2f} s (this tree {repack['new'] / repack['base']:.2f}x)")


if __name__ == "__main__":
    main()
