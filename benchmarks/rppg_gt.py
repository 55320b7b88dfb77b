"""Throughput and memory of `rppg-gt` on 1080p 30 fps clips, against decode-only.

    python benchmarks/rppg_gt.py [--workdir bench-out] [--short 10] [--long 60]

Makes two H.264 1080p30 clips from the real face photo shipped with fasprep (a 72 bpm pulse,
head motion, noise; SiW's resolution and bits per pixel), cached in WORKDIR. Each measurement
runs in a fresh Python process, so peak RSS is that process's own and imports are not timed.

Prints:
- decode-only frames/s: a plain OpenCV read loop (the floor any tool pays), and rppg-gt
  frames/s (decode + FaceMesh + skin trace + CHROM + spectra) on the same clip; their ratio
  (target >= 0.5).
- peak RSS of rppg-gt on the short and the long clip and their ratio (target: long within 1.2x
  of short, i.e. memory does not grow with video length).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


def make_clip(path: Path, seconds: float) -> Path:
    from fasprep.io import write_video
    from fasprep.synth import animate_face, example_face, synthetic_ppg

    if path.exists():
        return path
    n = int(seconds * FPS)
    print(f"generating {path} ({seconds:g} s, {SIZE[0]}x{SIZE[1]})...", file=sys.stderr, flush=True)
    frames = animate_face(example_face(), synthetic_ppg(n, fs=FPS, hr_bpm=72.0), fps=FPS, size=SIZE,
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
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
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
