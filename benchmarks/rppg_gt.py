"""Throughput and memory of `rppg-gt` on 1080p 30 fps clips, against decode-only.

    python benchmarks/rppg_gt.py [--workdir bench-out] [--short 10] [--long 60]
    python benchmarks/rppg_gt.py --peer vitallens [--peer-python PYTHON] [--workdir bench-out]

Makes two H.264 1080p30 clips from the real face photo shipped with fasprep (a 72 bpm pulse,
head motion, noise; SiW's resolution and bits per pixel), cached in WORKDIR. Each measurement
runs in a fresh Python process, so peak RSS is that process's own and imports are not timed.

Prints:
- decode-only frames/s: a plain OpenCV read loop (the floor any tool pays), and rppg-gt
  frames/s (decode + Face Landmarker + skin trace + CHROM + spectra) on the same clip; their ratio
  (target >= 0.5).
- peak RSS of rppg-gt on the short and the long clip and their ratio (target: long within 1.2x
  of short, i.e. memory does not grow with video length).

``--peer vitallens`` instead runs `fasprep rppg-gt CLIP --json` and vitallens' local CHROM method
(``VitalLens(method="chrom")``, PyPI `vitallens`) as whole processes (interpreter, imports,
decode, face detection, pulse, HR) on the same real-face clips (the face photo animated with a
72 bpm pulse: 24 s at 640x360 and the 10 s 1080p clip), in the order fasprep, vitallens,
vitallens, fasprep per clip (ABBA; each figure the mean of two runs, peak RSS the larger), and
prints wall time, peak RSS (VmHWM at exit) and both heart rates side by side. Goal: fasprep at
least as fast, with at most a third of vitallens' peak RSS. vitallens lives in an environment of
its own (it pins other versions): ``--peer-python`` names that environment's Python (default
$FASPREP_PEER_PYTHON); without it, or when it cannot import vitallens, the comparison is skipped
with a message. vitallens reads a video file through the ffmpeg and ffprobe programs; where they
are not installed, the peer process decodes the clip with PyAV (``pip install av`` in its
environment) into the array vitallens takes, which is what vitallens holds in memory either way
(it analyses a whole video at once).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

FPS = 30.0
SIZE = (1920, 1080)

# Peak RSS from VmHWM: ru_maxrss would carry over the parent's peak across fork + exec on Linux.
PEAK_RSS_MB = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"

DECODE_ONLY = """
import json, sys, time, cv2
t0 = time.perf_counter(); cap = cv2.VideoCapture(sys.argv[1]); n = 0
while True:
    ok, _ = cap.read()
    if not ok: break
    n += 1
dt = time.perf_counter() - t0
print(json.dumps({"frames": n, "seconds": dt, "rss_mb": %s}))
""" % PEAK_RSS_MB

RPPG_GT = """
import json, sys, time
from fasprep.rppg import rppg_gt
t0 = time.perf_counter(); r = rppg_gt(sys.argv[1]); dt = time.perf_counter() - t0
print(json.dumps({"frames": r.n_frames, "seconds": dt, "hr_bpm": r.hr_bpm,
                  "rss_mb": %s}))
""" % PEAK_RSS_MB


# Runs a command's main in this interpreter and writes its peak RSS (VmHWM) to $PEAK_RSS_FILE at
# exit: the whole process is measured, imports included.
WHOLE_PROCESS = """
import atexit, os, runpy, sys
def _peak():
    with open(os.environ["PEAK_RSS_FILE"], "w") as f:
        f.write(str(%s))
atexit.register(_peak)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__") if sys.argv[0].endswith(".py") else runpy.run_module(sys.argv[0], run_name="__main__")
""" % PEAK_RSS_MB

VITALLENS = """
import json, shutil, sys
import numpy as np
from vitallens import VitalLens
path = sys.argv[1]
vl = VitalLens(method="chrom")
if shutil.which("ffmpeg") and shutil.which("ffprobe"):
    result = vl(path)
else:  # no ffmpeg programs: PyAV decodes the clip into the array vitallens analyses
    import av
    with av.open(path) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])
    result = vl(frames, fps=fps)
hr = result[0]["vitals"].get("heart_rate", {}).get("value") if result else None
print(json.dumps({"hr_bpm": hr}))
"""


def peer_ok(python: str | None) -> str | None:
    """Why the vitallens comparison cannot run (None when it can)."""
    if not python:
        return "no --peer-python (or $FASPREP_PEER_PYTHON): the Python of an environment with vitallens"
    probe = subprocess.run([python, "-c", "import vitallens"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{python} cannot import vitallens ({probe.stderr.strip().splitlines()[-1] if probe.stderr else ''})"
    return None


def run_whole(python: str, args: list[str], workdir: Path, cwd: Path | None = None) -> dict:
    """Wall seconds, peak RSS (MB) and the last JSON line's hr_bpm of a whole process (run in ``cwd``)."""
    peak_file = workdir / "peak_rss.txt"
    env = dict(os.environ, PEAK_RSS_FILE=str(peak_file))
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", WHOLE_PROCESS, *args], capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed: {' '.join(args)}:\n{proc.stderr[-2000:]}")
    hr = json.loads(proc.stdout.strip().splitlines()[-1]).get("hr_bpm")
    return {"seconds": seconds, "rss_mb": float(peak_file.read_text()), "hr_bpm": hr}


def compare_peer(args) -> None:
    why = peer_ok(args.peer_python)
    if why:
        print(f"rppg-gt against vitallens: skipped: {why}")
        return
    workdir = args.workdir.resolve()
    clips = [make_clip(workdir / "face_640x360_24s.mp4", 24.0, size=(640, 360)),
             make_clip(workdir / f"face_1080p_{args.short:g}s.mp4", args.short)]
    script = workdir / "vitallens_chrom.py"
    script.write_text(VITALLENS)
    load = os.getloadavg()[0]
    rows = []
    for clip in clips:
        runs: dict[str, list[dict]] = {"fasprep": [], "vitallens": []}
        for who in ("fasprep", "vitallens", "vitallens", "fasprep"):
            if who == "fasprep":
                runs[who].append(run_whole(sys.executable, ["fasprep", "rppg-gt", str(clip), "--json"], workdir))
            else:
                # In WORKDIR: vitallens writes a JSON export of each result into its working folder.
                runs[who].append(run_whole(args.peer_python, [str(script), str(clip)], workdir, cwd=workdir))
        rows.append((clip, {k: {"seconds": sum(r["seconds"] for r in v) / len(v),
                                "rss_mb": max(r["rss_mb"] for r in v), "hr_bpm": v[-1]["hr_bpm"]}
                            for k, v in runs.items()}))
    print(f"rppg-gt against vitallens (local CHROM), whole processes, mean of 2 runs each, interleaved; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; true pulse 72 bpm")
    print(f"{'clip':>26} {'fasprep s':>10} {'vitallens s':>12} {'speed':>6} {'fasprep MB':>11} "
          f"{'vitallens MB':>13} {'RSS':>5} {'fasprep bpm':>12} {'vitallens bpm':>14}")
    for clip, r in rows:
        f, v = r["fasprep"], r["vitallens"]
        vhr = f"{v['hr_bpm']:.1f}" if v["hr_bpm"] is not None else "none"
        print(f"{clip.name:>26} {f['seconds']:>10.1f} {v['seconds']:>12.1f} {v['seconds'] / f['seconds']:>5.2f}x "
              f"{f['rss_mb']:>11.0f} {v['rss_mb']:>13.0f} {f['rss_mb'] / v['rss_mb']:>5.2f} {f['hr_bpm']:>12.1f} "
              f"{vhr:>14}")
    print("speed: vitallens' time over fasprep's (goal >= 1); RSS: fasprep's peak over vitallens' (goal <= 0.33)")


def make_clip(path: Path, seconds: float, size: tuple[int, int] = SIZE) -> Path:
    from fasprep.io import write_video
    from fasprep.synth import animate_face, example_face, synthetic_ppg

    if path.exists():
        return path
    n = int(seconds * FPS)
    print(f"generating {path} ({seconds:g} s, {size[0]}x{size[1]})...", file=sys.stderr, flush=True)
    frames = animate_face(example_face(), synthetic_ppg(n, fs=FPS, hr_bpm=72.0), fps=FPS, size=size,
                          motion_px=6.0)
    write_video(path, frames, fps=FPS)
    return path


def measure(script: str, clip: Path) -> dict:
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", script, str(clip)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed on {clip}:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["fps"] = out["frames"] / out["seconds"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out"))
    ap.add_argument("--short", type=float, default=10.0, help="short clip, seconds")
    ap.add_argument("--long", type=float, default=60.0, help="long clip, seconds")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement (best is kept)")
    ap.add_argument("--peer", choices=["vitallens"], default=None,
                    help="Compare with another tool's whole process on the same clips instead.")
    ap.add_argument("--peer-python", default=os.environ.get("FASPREP_PEER_PYTHON"),
                    help="Python of the environment where the peer is installed (default $FASPREP_PEER_PYTHON).")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.peer:
        compare_peer(args)
        return
    short = make_clip(args.workdir / f"face_1080p_{args.short:g}s.mp4", args.short)
    long = make_clip(args.workdir / f"face_1080p_{args.long:g}s.mp4", args.long)

    def best(script, clip):
        runs = [measure(script, clip) for _ in range(args.repeat)]
        return max(runs, key=lambda r: r["fps"])

    dec_s, gt_s = best(DECODE_ONLY, short), best(RPPG_GT, short)
    dec_l, gt_l = best(DECODE_ONLY, long), best(RPPG_GT, long)
    cpu = os.cpu_count()
    print(f"rppg-gt benchmark: H.264 {SIZE[0]}x{SIZE[1]} @ {FPS:g} fps, {cpu} CPUs, best of {args.repeat}")
    print(f"{'clip':>6} {'frames':>7} {'decode-only fps':>16} {'rppg-gt fps':>12} {'ratio':>6} "
          f"{'decode RSS MB':>14} {'rppg-gt RSS MB':>15} {'HR bpm':>7}")
    for name, dec, gt in (("short", dec_s, gt_s), ("long", dec_l, gt_l)):
        print(f"{name:>6} {gt['frames']:>7} {dec['fps']:>16.1f} {gt['fps']:>12.1f} {gt['fps'] / dec['fps']:>6.2f} "
              f"{dec['rss_mb']:>14.0f} {gt['rss_mb']:>15.0f} {gt['hr_bpm']:>7.1f}")
    ratio = gt_l["fps"] / dec_l["fps"]
    mem = gt_l["rss_mb"] / gt_s["rss_mb"]
    print(f"throughput ratio rppg-gt / decode-only (long clip): {ratio:.2f}  (target >= 0.5)")
    print(f"peak RSS {args.long:g} s / {args.short:g} s: {gt_l['rss_mb']:.0f} / {gt_s['rss_mb']:.0f} MB = {mem:.2f}x"
          f"  (target <= 1.2x)")


if __name__ == "__main__":
    main()
