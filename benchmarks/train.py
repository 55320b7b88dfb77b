"""Is the model or the data the bottleneck? Loader clips/s against train-step clips/s.

    python benchmarks/train.py [--workdir bench-out/train] [--width 1.0] [--device auto|cpu|cuda] [--steps 3]
                               [--clip-frames 5 --stride 1 --rppg-head spectrum]

Builds (once, cached in WORKDIR) shards of a small mock SiW tree at the paper's sizes: 256-px
JPEG crops, 32x32 depth (mesh source: needs no model files). Then prints, in one run:

- loader clips/s (Nf = 5 frames each: HDF5 reads + JPEG decoding) with 0 and with 2 DataLoader
  workers;
- model train-step clips/s: forward, backward and Adam step of the auxiliary CNN-RNN on batches
  of real clips (bf16 autocast on CUDA), sequence stream;
- their ratio (target: loader with 2 workers >= 3x the step rate, so the model, not the data,
  is the bottleneck);
- memory of a training step: peak CUDA memory allocated (``--device cuda``), or the growth of
  the process's peak RSS over the step benchmark on the CPU.

``--device cuda`` runs the same steps on a GPU in bf16 autocast (the step rate quoted in README).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def make_shards(workdir: Path) -> Path:
    from fasprep.build import BuildConfig, build
    from fasprep.synth.mock_tree import demo_faces, make_siw_tree, mock_video_ids

    shards = workdir / "shards"
    if (shards / "manifest.json").is_file():
        return shards
    ids = mock_video_ids(train_subjects=3, test_subjects=1)
    print(f"making {len(ids)} mock videos and their shards in {workdir} ...", file=sys.stderr)
    make_siw_tree(workdir / "raw", ids, faces=demo_faces(sorted({int(v.split('/')[2]) for v in ids})),
                  seconds=4.0, attack_seconds=4.0)
    build("siw", workdir / "raw", shards, config=BuildConfig(depth_source="mesh"), workers=2, progress=False)
    return shards


def loader_rate(dataset, *, workers: int, batch_size: int, batches: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)  # worker start-up and file opening are not the steady state
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        try:
            n += len(next(it)["video_id"])
        except StopIteration:
            break
    return n / (time.perf_counter() - t0)


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def step_rate(shards: Path, dataset, *, width: float, device: torch.device, batch_size: int, steps: int,
              rppg_head: str = "spectrum") -> float:
    from fasmodel.losses import total_loss
    from fasmodel.train import model_for_shards, to_device

    model = model_for_shards(shards, "auxiliary", width=width, rppg_head=rppg_head).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=batch_size)))
    batch = to_device(batch, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step():
        with autocast:
            loss = total_loss(model(batch["frames"], batch["nrr_grid"], batch["times"]), batch,
                              stream="sequence")["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, cuDNN autotuning)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0)


def main() -> None:
    from fasmodel.data import ClipDataset
    from fasmodel.train import pick_device

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/train"))
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batches", type=int, default=20, help="loader batches timed")
    ap.add_argument("--clip-frames", type=int, default=5)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--rppg-head", default="spectrum", choices=["spectrum", "signal"])
    a = ap.parse_args()
    shards = make_shards(a.workdir)
    dataset = ClipDataset(shards, "siw-p1", "test", clip_frames=a.clip_frames, stride=a.stride, clips_per_video=40,
                          seed=0)
    device = pick_device(a.device)
    load0 = loader_rate(dataset, workers=0, batch_size=a.batch_size, batches=a.batches)
    load2 = loader_rate(dataset, workers=2, batch_size=a.batch_size, batches=a.batches)
    rss0 = peak_rss_mib()
    steps = step_rate(shards, dataset, width=a.width, device=device, batch_size=a.batch_size, steps=a.steps,
                      rppg_head=a.rppg_head)
    if device.type == "cuda":
        memory = f"peak CUDA memory {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB"
    else:
        memory = f"peak RSS {peak_rss_mib():,.0f} MiB (+{peak_rss_mib() - rss0:,.0f} MiB over the loader benchmark)"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    side = dataset[0]["frames"].shape[1]
    print(f"fasmodel training throughput: clips of {a.clip_frames} x {side}x{side} frames (stride {a.stride}), "
          f"batch {a.batch_size}, width {a.width:g}, rPPG head {a.rppg_head}, {name}")
    print(f"  loader, 0 workers:         {load0:10.3g} clips/s")
    print(f"  loader, 2 workers:         {load2:10.3g} clips/s")
    print(f"  train step (auxiliary{', bf16' if device.type == 'cuda' else ''}): {steps:10.3g} clips/s")
    print(f"  loader (2 workers) / step: {load2 / steps:10.3g}x  (target >= 3: the model is the bottleneck)")
    print(f"  training step memory:      {memory}")


if __name__ == "__main__":
    main()
