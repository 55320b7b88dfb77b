"""Does the rPPG branch learn a pulse? Heart rate of the predicted spectrum on held-out live videos.

    python benchmarks/rppg_branch.py [--workdir bench-out/rppg] [--epochs 8] [--train-subjects 6]

Generates (once, cached in WORKDIR) a mock SiW tree whose live videos carry a synthetic pulse
(fasprep.synth.synthetic_ppg) at a rate drawn per video in 55-110 bpm, ``--pulse-gain`` times
the mock's usual strength (default 5: 2 % of the skin's brightness instead of 0.4 %, because
a few CPU epochs do not pick up the usual one; say so when quoting the figures), builds it with
small crops (32 px, 4x4 depth, mesh depth: needs no model files), then trains in the same run,
on protocol siw-p3-2 (train: Train live + replay; test: Test live + print, other subjects):

- the paper's branch: Nf = 5 consecutive frames, spectrum regressed from the LSTM's last state;
- the long-clip variant: Nf = 64 frames 2 apart (4.2 s at 30 fps), a pulse value per frame and
  its DFT at the label's frequencies (``--rppg-head signal``);

and prints, for each, the mean absolute error of the predicted heart rate (peak of the mean
predicted spectrum over a video's clips) against the label's (peak of the video's label
spectrum) on the Test live videos, beside the best constant rate's (the labels' median: an
oracle constant), and the PAD metrics. Figures depend on the CPU; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def pulse_source(gain: float, seed: int = 0):
    """``(video_id, n, fs) -> (pulse, hr_bpm)``: synthetic PPG at a rate per video, times ``gain``."""
    import zlib

    import numpy as np

    from fasprep.synth import synthetic_ppg

    def pulse(video_id: str, n: int, fs: float):
        rng = np.random.default_rng([seed, zlib.crc32(video_id.encode())])
        hr = float(rng.uniform(55.0, 110.0))
        return gain * synthetic_ppg(n, fs=fs, hr_bpm=hr, seed=int(rng.integers(2**31))), hr

    return pulse


def make_shards(workdir: Path, *, train_subjects: int, test_subjects: int, seconds: float, gain: float) -> Path:
    from fasprep.build import BuildConfig, build
    from fasprep.synth.mock_tree import demo_faces, make_siw_tree, mock_video_ids

    shards = workdir / "shards"
    if (shards / "manifest.json").is_file():
        return shards
    ids = mock_video_ids(train_subjects=train_subjects, test_subjects=test_subjects)
    print(f"making {len(ids)} mock videos ({seconds:g} s) and their shards in {workdir} ...", file=sys.stderr)
    make_siw_tree(workdir / "raw", ids, faces=demo_faces(sorted({int(v.split('/')[2]) for v in ids})),
                  pulse=pulse_source(gain), seconds=seconds, seed=5)
    result = build("siw", workdir / "raw", shards, config=BuildConfig(crop_size=32, depth_size=4, depth_source="mesh"),
                   workers=2, progress=False)
    print(f"built {result.n_ok} videos, {result.n_failed} failed", file=sys.stderr)
    return shards


def main() -> None:
    from fasmodel.evaluate import evaluate_checkpoint, format_evaluation
    from fasmodel.train import TrainConfig, train

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/rppg"))
    ap.add_argument("--train-subjects", type=int, default=5)
    ap.add_argument("--test-subjects", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of every mock video, s")
    ap.add_argument("--pulse-gain", type=float, default=5.0, help="pulse strength over the mock's usual 0.4 %%")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (more than the free cores is much slower)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", default="long,paper", help="comma-separated: long, paper")
    a = ap.parse_args()
    shards = make_shards(a.workdir, train_subjects=a.train_subjects, test_subjects=a.test_subjects,
                         seconds=a.seconds, gain=a.pulse_gain)
    variants = {"paper": dict(clip_frames=5, stride=1, rppg_head="spectrum", clips_per_video=8, batch_size=8),
                "long": dict(clip_frames=64, stride=2, rppg_head="signal", clips_per_video=2, batch_size=4)}
    rows = []
    for name in a.variants.split(","):
        cfg = TrainConfig(shards=str(shards), protocol="siw-p3-2", epochs=a.epochs, width=a.width, lr=a.lr,
                          num_workers=0, threads=a.threads, device=a.device, seed=0, **variants[name])
        run = a.workdir / "runs" / name
        t0 = time.perf_counter()
        last = run / "checkpoints" / "last.pt"
        train(cfg, run, resume=last.is_file(), progress=False, echo=lambda line: print(f"  [{name}] {line}",
                                                                                          file=sys.stderr))
        seconds = time.perf_counter() - t0
        result = evaluate_checkpoint(shards, "siw-p3-2", last, device=a.device, max_clips=10)
        print(format_evaluation(result))
        hr = result["heart_rate"]
        rows.append((name, cfg, hr, result["metrics"], seconds))
        (run / "rppg_branch.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nHeart rate of the predicted spectrum, Test live videos (siw-p3-2, {a.epochs} epochs, width {a.width:g}):")
    for name, cfg, hr, m, seconds in rows:
        print(f"  {name:5s} (Nf {cfg.clip_frames:2d}, stride {cfg.stride}, head {cfg.rppg_head:8s}): "
              f"MAE {hr['mae_bpm']:5.1f} bpm vs best constant {hr['constant_mae_bpm']:5.1f} bpm "
              f"(ratio {hr['mae_bpm'] / hr['constant_mae_bpm']:.2f}; n = {hr['n']}); ACER {100 * m['acer']:.1f} %, "
              f"AUC {m['auc']:.3f}; trained in {seconds:.0f} s")


if __name__ == "__main__":
    main()
