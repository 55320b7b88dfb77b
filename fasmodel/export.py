"""ONNX export of a trained model: the whole clip-to-score function, for inference without torch.

The exported graph takes what the shards hold (uint8 frames, the NRR grid, frame times) and
returns the per-clip outputs and the attack score, so a runtime needs no fasmodel code:

======== ============================== ============================================
input    shape, dtype                   meaning
======== ============================== ============================================
frames   (B, Nf, H, W, 3) uint8         RGB face crops (H = W = the build's crop size)
nrr_grid (B, Nf, S, S, 2) float32       the shards' grid (:data:`fasmodel.data.NO_FACE_GRID` without a face)
times    (B, Nf) float32                seconds since the clip's first frame
======== ============================== ============================================

Only the inputs a model uses are in its graph (:func:`input_names`): the binary model takes
``frames``; the auxiliary model with the paper's spectrum head ``frames, nrr_grid``; with
the long-clip signal head all three.

Outputs: ``attack_score`` (B,) (higher = attack) and, for the auxiliary model, ``depth``
(B, Nf, S, S) and ``spectrum`` (B, F); for the binary model ``logits`` (B, Nf, 2). The batch
axis is dynamic; Nf is fixed at export (the checkpoint's clip length).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from fasprep.io import atomic_path

from .train import load_checkpoint, model_from_checkpoint

#: ONNX opset: GridSample (the NRR layer) needs 16; 20 spells its mode ``linear``, the spelling
#: ONNX's reference evaluator (the test's runtime) reads; onnxruntime runs it from 1.17.
OPSET = 20


class _Exported(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames, nrr_grid=None, times=None):
        out = self.model(frames, nrr_grid, times)
        score = self.model.attack_score(out)
        if "logits" in out:
            return score, out["logits"]
        return score, out["depth"], out["spectrum"]


def example_inputs(state: dict, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random inputs of the shapes a checkpoint's model takes (``frames``, ``nrr_grid``, ``times``)."""
    b, nf = state["build"], state["config"]["clip_frames"]
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (batch, nf, b["crop_size"], b["crop_size"], 3), dtype=torch.uint8, generator=g)
    grid = torch.rand(batch, nf, b["depth_size"], b["depth_size"], 2, generator=g) * 2 - 1
    fps = 30.0 / (state["config"]["stride"] * b.get("frame_stride", 1))
    times = (torch.arange(nf, dtype=torch.float32) / fps).expand(batch, nf).contiguous()
    return frames, grid, times


def input_names(state: dict) -> list[str]:
    cfg = state["config"]
    if cfg["supervision"] == "binary":
        return ["frames"]
    return ["frames", "nrr_grid"] + (["times"] if cfg.get("rppg_head", "spectrum") == "signal" else [])


def output_names(state: dict) -> list[str]:
    if state["config"]["supervision"] == "binary":
        return ["attack_score", "logits"]
    return ["attack_score", "depth", "spectrum"]


def export_onnx(checkpoint: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write a checkpoint's model as ONNX (written atomically); returns ``path``."""
    state = load_checkpoint(checkpoint)
    model = _Exported(model_from_checkpoint(state)).eval()
    inputs, names = input_names(state), output_names(state)
    axes = {n: {0: "batch"} for n in inputs + names}
    path = Path(path)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter: the dynamo one needs onnxscript, one more dependency. Its
        # deprecation and tracer notes (shape checks traced as constants: Nf and the crop size
        # are fixed in the graph, as documented) say nothing the user can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, example_inputs(state, batch=2)[:len(inputs)], str(tmp), input_names=inputs,
                          output_names=names, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return path
