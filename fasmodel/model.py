"""The CNN-RNN of Liu, Jourabloo & Liu (CVPR 2018) and its binary-supervision baseline.

Reference
---------
Y. Liu, A. Jourabloo and X. Liu, "Learning Deep Models for Face Anti-Spoofing: Binary or
Auxiliary Supervision", CVPR 2018.

Architecture (``width`` = 1, the paper's channel counts; ``width`` scales all of them)::

    frame (6, H, W) RGB+HSV in [0, 1]           H, W divisible by 8 (256 x 256 in the paper)
      conv3x3 64
      3 x block: conv3x3 128, 196, 128 (each BN + ELU), maxpool 2x2    -> H/2, H/4, H/8
      the three block outputs average-pooled to H/8 and concatenated   -> (3 * 128, H/8, W/8)
      depth head:   conv3x3 128, 64 (BN + ELU), conv3x3 1, linear      -> D (1, H/8, W/8)
      feature head: conv3x3 64 (BN + ELU), conv3x3 C_t, linear         -> T (C_t, H/8, W/8)
    NRR layer (per frame):  U = T * [D >= 0.1];  F = grid_sample(U, nrr_grid)  -> (C_t, G, G)
    LSTM (100 units) over the Nf frames' flattened F; FC on the last hidden state -> f (n_bins,)

Choices this project makes where the paper leaves room or does not fit the labels:

- The depth map is 1/8 of the input (256 -> 32, the paper), so any input divisible by 8
  works; tests and CPU runs use 64 x 64.
- Multi-scale: the 2x and 4x larger block outputs are resized to the depth size by average
  pooling (an exact area resize for these integer factors).
- T has ``feature_channels`` = 1 channel by default (our reading of the paper: one 32 x 32
  feature map per frame), so the RNN reads 1,024 registered values per frame at G = 32.
- The NRR grid's size G is a model constant (``grid_size``, 32 = the shards' S). The grid is
  in normalised crop coordinates (torch ``grid_sample``, x then y, ``align_corners=False``), so
  it samples a feature map of any resolution. Non-finite grid entries (frames without a
  fitted face) sample zeros. The mask is a hard threshold: no gradient through it, as in the
  paper; T still gets gradients wherever the mask is open.
- Spectrum, two heads (``rppg_head``):

  ``"spectrum"`` (default, for the paper's Nf = 5 clips): the paper's RNN emits a per-frame
  signal and takes its FFT; with Nf = 5 frames (0.17 s at 30 fps) that gives 3 bins, while our
  label (``rppg_fft`` in the shards) is one ``n_bins`` magnitude spectrum per video. So the
  spectrum is regressed directly: FC(100 -> n_bins) on the LSTM's last hidden state. No output
  activation: a linear output reaches the all-zero spoof label exactly (softplus cannot), and
  the score only uses its squared norm. A clip this short cannot hold one heart beat, so this
  head can learn "live or not", not a rate.

  ``"signal"`` (the long-clip variant, e.g. Nf = 64 frames 2 apart, 4.3 s at 30 fps): the
  paper's own construction. FC(100 -> 1) on every LSTM output gives a pulse value per frame;
  the spectrum is the magnitude of its DFT (mean removed, Hann window) evaluated exactly at the
  label's frequencies (:func:`fasprep.rppg.label_frequencies`) and at the frames' times, so any
  frame spacing works. Scaled by 2 / sum(window): a sinusoid of amplitude a peaks at ~a.

Scores: the paper's score ``||f||^2 + lam * ||D||^2`` (lam = 0.015) is a *liveness* score,
high for a live face (a depth map and a pulse). fasmodel.metrics expects higher = more
attack-like, so every model has ``attack_score(outputs)``; for :class:`AuxNet` it is
``-liveness_score``, for :class:`BinaryNet` the mean softmax probability of "attack".
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "AuxNet",
    "Backbone",
    "BinaryNet",
    "attack_score",
    "build_model",
    "count_parameters",
    "identity_grid",
    "clip_spectrum",
    "liveness_score",
    "nrr_register",
    "rgb_to_hsv",
    "spectrum_hr_bpm",
    "to_input",
]

#: The paper's channel counts: the first conv and each block's three convs.
STEM_CHANNELS = 64
BLOCK_CHANNELS = (128, 196, 128)
#: D >= this is face in the NRR layer's mask (docs/design.md).
MASK_THRESHOLD = 0.1
#: Weight of the depth term in the score (the paper's lambda).
SCORE_LAMBDA = 0.015
#: rPPG heads of :class:`AuxNet` (module docstring).
RPPG_HEADS = ("spectrum", "signal")
#: Frame rate assumed for a clip given without frame times, Hz (SiW's).
DEFAULT_FPS = 30.0


# --- input ---------------------------------------------------------------------------------------


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    """RGB to HSV on tensors, with the conventions of :func:`colorsys.rgb_to_hsv`.

    Parameters
    ----------
    rgb : torch.Tensor, shape (..., 3, H, W), float in [0, 1]

    Returns
    -------
    torch.Tensor, shape (..., 3, H, W), float in [0, 1]
        Hue as a fraction of the full circle (0 = red, 1/3 = green, 2/3 = blue; 0 where the
        pixel is grey), saturation (max - min) / max (0 where max = 0), value = max.
        ``cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)`` gives 256 * hue, 255 * s and 255 * v
        (rounded) on uint8 images.

    Examples
    --------
    >>> rgb_to_hsv(torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1)).flatten().tolist()
    [0.5833333134651184, 1.0, 1.0]
    """
    r, g, b = rgb.unbind(-3)
    maxc = rgb.amax(-3)
    minc = rgb.amin(-3)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-12)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = torch.where(r == maxc, bc - gc, torch.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, torch.remainder(h / 6.0, 1.0), torch.zeros_like(h))
    return torch.stack([h, s, maxc], dim=-3)


def to_input(frames: np.ndarray | Tensor) -> Tensor:
    """Frames as stored in the shards to the network's input: RGB + HSV, channels first.

    Parameters
    ----------
    frames : np.ndarray or torch.Tensor, shape (..., H, W, 3), uint8 RGB
        A tensor stays on its device (convert on the GPU: a quarter of the bytes to move).

    Returns
    -------
    torch.Tensor, shape (..., 6, H, W), float32 in [0, 1]: R, G, B, H, S, V

    Examples
    --------
    >>> to_input(np.zeros((2, 5, 8, 8, 3), np.uint8)).shape
    torch.Size([2, 5, 6, 8, 8])
    """
    x = torch.as_tensor(frames)
    if x.dtype != torch.uint8 or x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"frames: expected uint8 (..., H, W, 3) RGB, got {x.dtype} {tuple(x.shape)}")
    rgb = x.movedim(x.ndim - 1, x.ndim - 3).float() / 255.0  # positive dims: ONNX Transpose takes no negatives
    return torch.cat([rgb, rgb_to_hsv(rgb)], dim=-3)


def _as_clip(frames: np.ndarray | Tensor) -> Tensor:
    """A model's input as (B, Nf, 6, H, W) float: uint8 (B, Nf, H, W, 3) frames are converted."""
    x = torch.as_tensor(frames)
    if x.dtype == torch.uint8:
        x = to_input(x)
    if x.ndim != 5 or x.shape[2] != 6 or x.shape[-1] % 8 or x.shape[-2] % 8:
        raise ValueError("frames: expected (B, Nf, 6, H, W) float or (B, Nf, H, W, 3) uint8 with H, W "
                         f"divisible by 8, got {x.dtype} {tuple(torch.as_tensor(frames).shape)}")
    return x


# --- CNN -----------------------------------------------------------------------------------------


def _channels(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    """conv3x3 + BN + ELU (the paper's unit)."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ELU(inplace=True)]


def _head(c_in: int, hidden: tuple[int, ...], c_out: int) -> nn.Sequential:
    """conv3x3 + BN + ELU per ``hidden`` width, then a linear conv3x3 to ``c_out`` maps."""
    layers, c = [], c_in
    for h in hidden:
        layers += _conv(c, h)
        c = h
    return nn.Sequential(*layers, nn.Conv2d(c, c_out, 3, padding=1))


class Backbone(nn.Module):
    """The shared per-frame CNN: stem, three pooled blocks, multi-scale concatenation.

    Parameters
    ----------
    width : float > 0
        Multiplies every channel count (64; 128, 196, 128); 1 = the paper.
    in_channels : int
        6 for RGB + HSV.

    Input (N, in_channels, H, W) with H, W divisible by 8; output (N, out_channels, H/8, W/8),
    ``out_channels`` = 3 * round(128 * width).
    """

    def __init__(self, *, width: float = 1.0, in_channels: int = 6):
        super().__init__()
        if not width > 0:
            raise ValueError(f"width: expected > 0, got {width}")
        c0 = _channels(STEM_CHANNELS, width)
        cs = [_channels(c, width) for c in BLOCK_CHANNELS]
        self.stem = nn.Sequential(*_conv(in_channels, c0))
        blocks, c = [], c0
        for _ in range(3):
            blocks.append(nn.Sequential(*_conv(c, cs[0]), *_conv(cs[0], cs[1]), *_conv(cs[1], cs[2]),
                                        nn.MaxPool2d(2)))
            c = cs[2]
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = 3 * cs[2]

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        scales = []
        for block in self.blocks:
            x = block(x)
            scales.append(x)
        # Blocks at H/2, H/4, H/8: average pooling by 4, 2, 1 is the exact area resize to H/8
        # (a fixed kernel, unlike adaptive pooling, exports to ONNX).
        n = len(scales)
        return torch.cat([F.avg_pool2d(s, 2 ** (n - 1 - i)) if i < n - 1 else s for i, s in enumerate(scales)], dim=1)


# --- NRR layer -----------------------------------------------------------------------------------


def identity_grid(size: int, *, batch: int = 1, device=None) -> Tensor:
    """The ``grid_sample`` grid that samples a ``size`` x ``size`` map at its own pixel centres.

    Returns
    -------
    torch.Tensor, shape (batch, size, size, 2), float32: (x, y) in (-1, 1), ``align_corners=False``

    Examples
    --------
    >>> identity_grid(2)[0, :, :, 0].tolist()
    [[-0.5, 0.5], [-0.5, 0.5]]
    """
    c = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([gx, gy], dim=-1).expand(batch, size, size, 2)


def nrr_register(features: Tensor, depth: Tensor, grid: Tensor, *, threshold: float = MASK_THRESHOLD) -> Tensor:
    """The paper's non-rigid registration (NRR) layer: mask by the depth map, then resample.

    ``U = T * [D >= threshold]`` keeps the features of the estimated face; sampling ``U`` at
    the frame's grid (where a fixed frontal vertex grid lies in this crop) aligns every frame
    to the same frontal layout, so the RNN sees how one skin patch changes over time.

    Parameters
    ----------
    features : torch.Tensor, shape (N, C, h, w), float: T
    depth : torch.Tensor, shape (N, 1, h, w) or (N, h, w), float: the estimated depth D
    grid : torch.Tensor, shape (N, G, G, 2), float
        (x, y) crop coordinates in [-1, 1] (``grid_sample``, ``align_corners=False``);
        values outside the crop and non-finite values (no face fitted) sample zeros.
    threshold : float

    Returns
    -------
    torch.Tensor, shape (N, C, G, G): registered features (no gradient through the mask).
    """
    if depth.ndim == 3:
        depth = depth.unsqueeze(1)
    if features.shape[0] != depth.shape[0] or features.shape[-2:] != depth.shape[-2:]:
        raise ValueError(f"features {tuple(features.shape)} and depth {tuple(depth.shape)}: expected the "
                         "same N and map size")
    if grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != features.shape[0]:
        raise ValueError(f"grid: expected (N={features.shape[0]}, G, G, 2), got {tuple(grid.shape)}")
    masked = features * (depth >= threshold).to(features.dtype)
    grid = torch.nan_to_num(grid.to(features.dtype), nan=-2.0, posinf=-2.0, neginf=-2.0)
    return F.grid_sample(masked, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# --- spectra -------------------------------------------------------------------------------------


def label_frequencies(n_bins: int) -> Tensor:
    """The frequencies (Hz) of the shards' ``rppg_fft`` bins: :func:`fasprep.rppg.label_frequencies`."""
    from fasprep.rppg import label_frequencies as freqs

    return torch.as_tensor(freqs(n_bins), dtype=torch.float32)


def clip_spectrum(signal: Tensor, times: Tensor, freqs: Tensor) -> Tensor:
    """Magnitude spectrum of per-frame signals at given frequencies (differentiable).

    Parameters
    ----------
    signal : torch.Tensor, shape (B, Nf), float: one value per frame
    times : torch.Tensor, shape (B, Nf), float, seconds: each frame's time (any origin, any spacing)
    freqs : torch.Tensor, shape (F,), float, Hz

    Returns
    -------
    torch.Tensor, shape (B, F): ``|sum_t w_t (x_t - mean x) exp(-2 pi i f t_t)| * 2 / sum w``
    with w a Hann window over the Nf frames (the label's construction, not normalised).

    Examples
    --------
    >>> t = torch.arange(120.0) / 30                       # 4 s at 30 fps
    >>> x = torch.sin(2 * torch.pi * 1.5 * t)              # 90 bpm, amplitude 1
    >>> f = torch.tensor([1.0, 1.5, 2.0])
    >>> [round(v, 2) for v in clip_spectrum(x[None], t[None], f)[0].tolist()]
    [0.0, 1.0, 0.0]
    """
    nf = signal.shape[-1]
    w = torch.hann_window(nf, periodic=False, dtype=signal.dtype, device=signal.device) if nf > 2 else \
        torch.ones(nf, dtype=signal.dtype, device=signal.device)
    x = (signal - signal.mean(-1, keepdim=True)) * w
    phase = 2 * torch.pi * freqs.to(signal).view(1, -1, 1) * times.to(signal).unsqueeze(1)  # (B, F, Nf)
    re = (torch.cos(phase) * x.unsqueeze(1)).sum(-1)
    im = (torch.sin(phase) * x.unsqueeze(1)).sum(-1)
    return torch.sqrt(re.pow(2) + im.pow(2) + 1e-12) * (2.0 / w.sum())


def spectrum_hr_bpm(spectrum: np.ndarray | Tensor, *, n_bins: int | None = None) -> np.ndarray:
    """Heart rate at the peak of label-layout spectra, bpm (NaN for an all-zero spectrum).

    Parameters
    ----------
    spectrum : array, shape (..., F): magnitudes at :func:`label_frequencies` (F bins)

    Returns
    -------
    np.ndarray, shape (...,), float64, bpm (bin resolution: 108 / (F - 1) bpm for the 0.7-2.5 Hz band)

    Examples
    --------
    >>> spectrum_hr_bpm(np.eye(50)[[0, 49]]).tolist()
    [42.0, 150.0]
    """
    a = np.asarray(spectrum.detach().cpu() if torch.is_tensor(spectrum) else spectrum, np.float64)
    from fasprep.rppg import label_frequencies as freqs_hz

    hr = np.round(freqs_hz(a.shape[-1])[np.argmax(a, axis=-1)] * 60.0, 6)
    return np.where(np.any(a != 0, axis=-1), hr, np.nan)


# --- models --------------------------------------------------------------------------------------


def liveness_score(depth: Tensor, spectrum: Tensor, *, lam: float = SCORE_LAMBDA) -> Tensor:
    """The paper's score ``||f||^2 + lam * ||D||^2``: higher = more live-like.

    Parameters
    ----------
    depth : torch.Tensor, shape (B, Nf, S, S): ``||D||^2`` is the sum of squares of a frame's
        map, averaged over the clip's frames.
    spectrum : torch.Tensor, shape (B, F): ``||f||^2`` is its sum of squares.
    lam : float

    Returns
    -------
    torch.Tensor, shape (B,). An attack score (higher = attack, as fasmodel.metrics expects)
    is its negative: :func:`attack_score`.

    Examples
    --------
    >>> depth, spectrum = torch.ones(1, 5, 32, 32), torch.full((1, 50), 0.2)  # ||D||^2 = 1024, ||f||^2 = 2
    >>> round(liveness_score(depth, spectrum).item(), 3)
    17.36
    """
    return spectrum.pow(2).sum(-1) + lam * depth.pow(2).sum((-2, -1)).mean(-1)


def attack_score(depth: Tensor, spectrum: Tensor, *, lam: float = SCORE_LAMBDA) -> Tensor:
    """``-liveness_score``: higher = more likely an attack. Shape (B,)."""
    return -liveness_score(depth, spectrum, lam=lam)


class AuxNet(nn.Module):
    """The CNN-RNN with auxiliary (depth + rPPG) supervision.

    Parameters
    ----------
    n_bins : int, F: bins of the spectrum (the shards' ``rppg_fft``, 50 by default)
    width : float, channel multiplier (1 = the paper)
    feature_channels : int, C_t: channels of the feature map T fed to the NRR layer
    grid_size : int, G: size of the NRR grid (the shards' depth size S)
    hidden : int, LSTM units (100 in the paper)
    threshold : float, NRR mask threshold on the estimated depth
    rppg_head : {"spectrum", "signal"}
        How the spectrum is made (module docstring): FC on the last LSTM state (default), or a
        pulse value per frame and its DFT (the long-clip variant).

    ``forward(frames, nrr_grid=None, times=None)`` takes ``frames`` (B, Nf, 6, H, W) float (see
    :func:`to_input`) or (B, Nf, H, W, 3) uint8, ``nrr_grid`` (B, Nf, G, G, 2) and ``times``
    (B, Nf) seconds (the signal head's DFT; default: frames 1 / 30 s apart). Without a grid
    every frame is sampled at :func:`identity_grid` (no registration). Nf = 1 is the
    single-frame stream. It returns ``{"depth": (B, Nf, H/8, W/8), "spectrum": (B, n_bins)}``,
    and with the signal head also ``"signal"`` (B, Nf).
    """

    def __init__(self, *, n_bins: int = 50, width: float = 1.0, feature_channels: int = 1, grid_size: int = 32,
                 hidden: int = 100, threshold: float = MASK_THRESHOLD, rppg_head: str = "spectrum"):
        super().__init__()
        if rppg_head not in RPPG_HEADS:
            raise ValueError(f"rppg_head: expected one of {RPPG_HEADS}, got {rppg_head!r}")
        self.backbone = Backbone(width=width)
        c = self.backbone.out_channels
        self.depth_head = _head(c, (_channels(128, width), _channels(64, width)), 1)
        self.feature_head = _head(c, (_channels(64, width),), feature_channels)
        self.lstm = nn.LSTM(feature_channels * grid_size * grid_size, hidden, batch_first=True)
        self.rppg_head = rppg_head
        self.fc = nn.Linear(hidden, n_bins if rppg_head == "spectrum" else 1)
        self.register_buffer("freqs", label_frequencies(n_bins), persistent=False)
        self.grid_size, self.threshold = grid_size, threshold

    def forward(self, frames: np.ndarray | Tensor, nrr_grid: Tensor | None = None,
                times: Tensor | None = None) -> dict[str, Tensor]:
        x = _as_clip(frames)
        B, Nf = x.shape[:2]
        G = self.grid_size
        feats = self.backbone(x.flatten(0, 1))
        depth = self.depth_head(feats)  # (B*Nf, 1, S, S)
        t = self.feature_head(feats)
        if nrr_grid is None:
            grid = identity_grid(G, batch=B * Nf, device=x.device)
        else:
            grid = torch.as_tensor(nrr_grid, device=x.device)
            if grid.shape != (B, Nf, G, G, 2):
                raise ValueError(f"nrr_grid: expected {(B, Nf, G, G, 2)}, got {tuple(grid.shape)}")
            grid = grid.flatten(0, 1)
        registered = nrr_register(t, depth, grid, threshold=self.threshold)
        seq, (h, _) = self.lstm(registered.reshape(B, Nf, -1))
        out = {"depth": depth.reshape(B, Nf, *depth.shape[-2:])}
        if self.rppg_head == "spectrum":
            out["spectrum"] = self.fc(h[-1])
            return out
        if times is None:
            times = (torch.arange(Nf, device=x.device, dtype=x.dtype) / DEFAULT_FPS).expand(B, Nf)
        elif times.shape != (B, Nf):
            raise ValueError(f"times: expected {(B, Nf)}, got {tuple(times.shape)}")
        signal = self.fc(seq).squeeze(-1)  # (B, Nf)
        out["signal"] = signal
        out["spectrum"] = clip_spectrum(signal.float(), times.to(x.device).float(), self.freqs)
        return out

    @staticmethod
    def attack_score(outputs: dict[str, Tensor], *, lam: float = SCORE_LAMBDA) -> Tensor:
        """Per-clip attack score from :meth:`forward`'s outputs: ``-liveness_score``, shape (B,)."""
        return attack_score(outputs["depth"], outputs["spectrum"], lam=lam)


class BinaryNet(nn.Module):
    """The binary-supervision baseline: the same backbone, global average pooling, 2-way head.

    ``forward(frames)`` (as :class:`AuxNet`; ``nrr_grid`` and ``times`` are accepted and ignored) returns
    ``{"logits": (B, Nf, 2)}``, class 0 = live, 1 = attack, one prediction per frame.
    """

    def __init__(self, *, width: float = 1.0):
        super().__init__()
        self.backbone = Backbone(width=width)
        self.fc = nn.Linear(self.backbone.out_channels, 2)

    def forward(self, frames: np.ndarray | Tensor, nrr_grid: Tensor | None = None,
                times: Tensor | None = None) -> dict[str, Tensor]:
        x = _as_clip(frames)
        B, Nf = x.shape[:2]
        pooled = self.backbone(x.flatten(0, 1)).mean((-2, -1))
        return {"logits": self.fc(pooled).reshape(B, Nf, 2)}

    @staticmethod
    def attack_score(outputs: dict[str, Tensor]) -> Tensor:
        """Per-clip attack score: softmax probability of "attack" averaged over frames, shape (B,)."""
        return outputs["logits"].softmax(-1)[..., 1].mean(-1)


def build_model(supervision: str = "auxiliary", *, n_bins: int = 50, width: float = 1.0,
                grid_size: int = 32, rppg_head: str = "spectrum") -> nn.Module:
    """The model of a supervision kind: ``"auxiliary"`` (:class:`AuxNet`) or ``"binary"`` (:class:`BinaryNet`).

    ``n_bins`` and ``grid_size`` follow the shards (their ``rppg_fft`` bins and depth size S);
    ``rppg_head`` is :class:`AuxNet`'s (ignored by the binary baseline).

    Examples
    --------
    >>> type(build_model("binary", width=0.25)).__name__
    'BinaryNet'
    """
    if supervision == "auxiliary":
        return AuxNet(n_bins=n_bins, width=width, grid_size=grid_size, rppg_head=rppg_head)
    if supervision == "binary":
        return BinaryNet(width=width)
    raise ValueError(f"supervision: expected 'auxiliary' or 'binary', got {supervision!r}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
