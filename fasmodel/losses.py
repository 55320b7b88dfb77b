"""Losses of the CNN-RNN (Liu, Jourabloo & Liu, CVPR 2018) and its two-stream schedule.

Batches are the dicts of :class:`fasmodel.data.ClipDataset` collated by a DataLoader:
``depth`` (B, Nf, S, S), ``face_ok`` (B, Nf) bool, ``rppg_fft`` (B, F), ``attack`` (B,).

Two-stream training (as in the paper): the CNN learns the depth map from single frames, the
whole network learns from clips. Steps alternate between the two streams
(:func:`stream_for_step`): a ``"single"`` step feeds Nf = 1 clips and uses the depth loss only
(the spectrum of one frame carries no pulse); a ``"sequence"`` step feeds Nf = 5 clips and uses
the depth loss plus ``rppg_weight`` times the rPPG loss.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["STREAMS", "binary_loss", "depth_loss", "rppg_loss", "stream_for_step", "total_loss"]

STREAMS = ("single", "sequence")


def depth_loss(pred: Tensor, target: Tensor, face_ok: Tensor) -> Tensor:
    """Mean squared error of the depth maps over the frames with a face.

    Parameters
    ----------
    pred, target : torch.Tensor, shape (B, Nf, S, S), float
        Spoof targets are all zeros and count like any other frame.
    face_ok : torch.Tensor, shape (B, Nf), bool
        Frames without a tracked and fitted face have no depth label and are left out.

    Returns
    -------
    torch.Tensor, scalar: mean over the pixels of the kept frames (0, still attached to the
    graph, when no frame is kept).
    """
    if pred.shape != target.shape or face_ok.shape != pred.shape[:2]:
        raise ValueError(f"depth_loss: pred {tuple(pred.shape)}, target {tuple(target.shape)} and face_ok "
                         f"{tuple(face_ok.shape)} do not match (B, Nf, S, S) / (B, Nf)")
    keep = face_ok.to(device=pred.device, dtype=torch.bool)
    if not keep.any():
        return pred.sum() * 0.0
    return F.mse_loss(pred[keep], target.to(pred)[keep])


def rppg_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Squared L2 distance of the spectra, averaged over the batch.

    The per-video distance is summed over the bins (not averaged): the live label has unit
    norm, so the loss stays on the same scale whatever the number of bins.

    Parameters
    ----------
    pred, target : torch.Tensor, shape (B, F), float

    Returns
    -------
    torch.Tensor, scalar
    """
    if pred.shape != target.shape:
        raise ValueError(f"rppg_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return (pred - target.to(pred)).pow(2).sum(-1).mean()


def binary_loss(logits: Tensor, attack: Tensor) -> Tensor:
    """Cross-entropy of per-frame live/attack logits (B, Nf, 2) against the clip label ``attack`` (B,)."""
    B, Nf = logits.shape[:2]
    labels = attack.to(device=logits.device, dtype=torch.long).reshape(B, 1).expand(B, Nf)
    return F.cross_entropy(logits.reshape(B * Nf, -1), labels.reshape(-1))


def stream_for_step(step: int, *, single_steps: int = 1) -> str:
    """Which stream a training step feeds: ``single_steps`` single-frame steps, then one sequence step.

    Examples
    --------
    >>> [stream_for_step(s) for s in range(4)]
    ['single', 'sequence', 'single', 'sequence']
    >>> [stream_for_step(s, single_steps=2) for s in range(3)]
    ['single', 'single', 'sequence']
    """
    if single_steps < 0:
        raise ValueError(f"single_steps: expected >= 0, got {single_steps}")
    return "single" if step % (single_steps + 1) < single_steps else "sequence"


def total_loss(outputs: dict[str, Tensor], batch: dict, *, stream: str, rppg_weight: float = 1.0) -> dict[str, Tensor]:
    """The loss of one auxiliary-supervision step.

    Parameters
    ----------
    outputs : dict from :meth:`fasmodel.model.AuxNet.forward` (``depth``, ``spectrum``)
    batch : dict with ``depth``, ``face_ok`` and, for the sequence stream, ``rppg_fft``
    stream : ``"single"`` (depth loss only) or ``"sequence"`` (depth + rppg_weight * rPPG)
    rppg_weight : float >= 0

    Returns
    -------
    dict: ``loss`` (to backpropagate), ``depth`` and ``rppg`` (detached parts; ``rppg`` is
    absent on single-frame steps).
    """
    if stream not in STREAMS:
        raise ValueError(f"stream: expected one of {STREAMS}, got {stream!r}")
    d = depth_loss(outputs["depth"], batch["depth"], batch["face_ok"])
    parts = {"loss": d, "depth": d.detach()}
    if stream == "sequence":
        r = rppg_loss(outputs["spectrum"], batch["rppg_fft"])
        parts.update(loss=d + rppg_weight * r, rppg=r.detach())
    return parts
