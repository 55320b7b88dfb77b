"""Presentation-attack videos: a face photo printed or shown on a screen, held up to the camera.

An attacker holds a planar copy of a face (a printed sheet, or a phone, tablet, laptop or
monitor showing the photo) in front of the camera and moves it by hand, so the camera sees the
plane under a slowly changing perspective: small tilts, roll, shifts and changes of distance
(0.05-0.5 Hz). The copy carries the marks of its medium, as in the SiW media codes
(Liu, Jourabloo & Liu, CVPR 2018):

- print (medium 1, 2): reduced dynamic range and saturation, a paper tint, an ink texture
  (a clustered-dot halftone from a laser printer on glossy paper; stochastic inkjet dots with
  ink spread and paper grain on matte paper), a white paper margin whose edge shows against
  the room;
- replay (medium 1-4: phone, tablet, laptop, monitor): the screen's RGB sub-pixel grid and
  black matrix, point-sampled by the camera so that it beats with the sensor grid (moire); the
  display's gamma, black level and blue tint; a glare patch; a bezel; a faint refresh flicker
  (monitor only, far above the pulse band).

The skin of a copy does not pulse: no blood-volume signal is added. Sensor noise and
stochastic rounding are as in :func:`fasprep.synth.animate_face` and
:func:`fasprep.synth.pulse_in_frames`.

Scale: texture periods (halftone, screen pixel pitch) are given in camera pixels of the output
video at the rest pose, so the mock behaves the same at 640x360 and at 1920x1080: the mock
camera is native at the size asked for. Plane geometry is in *frame heights*, origin at the
frame centre.

Cost: the textured copy is rendered once, at a few times the camera's resolution (so the
texture is sampled, not averaged away, by the warp); each frame is one
``cv2.warpPerspective`` of it plus a blend over the background, noise and rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ..errors import InputError

#: Height of the photo on the sheet at the rest pose, in frame heights (a print).
PRINT_PHOTO_HEIGHT = 0.8


@dataclass(frozen=True)
class PrintMedium:
    """How a printer and paper render a photo.

    Attributes
    ----------
    name : str
    saturation : float in [0, 1]
        Colour saturation kept (1 = all).
    black : float in [0, 1]
        Reflectance of full ink coverage (ink is never black under room light).
    paper : (float, float, float) in [0, 1]
        Reflectance of bare paper, R, G, B (its tint).
    halftone : {"am", "fm"}
        Clustered dots on a rotated screen per ink (laser) or stochastic dots (inkjet).
    period_px : float, camera pixels
        Halftone screen period at the rest pose (AM only).
    texture : float in [0, 1]
        Strength of the dot pattern (0 = continuous tone).
    grain : float
        Relative amplitude of the paper grain.
    blur_px : float, camera pixels
        Ink spread (Gaussian sigma) at the rest pose.
    gloss : float, grey levels / 255
        Peak of the specular glare patch.
    margin : float, frame heights
        Paper margin around the photo.
    """

    name: str
    saturation: float
    black: float
    paper: tuple[float, float, float]
    halftone: str
    period_px: float
    texture: float
    grain: float
    blur_px: float
    gloss: float
    margin: float


@dataclass(frozen=True)
class ScreenMedium:
    """How a display shows a photo.

    Attributes
    ----------
    name : str
    screen : (float, float), frame heights
        Width and height of the active screen area at the rest pose.
    pitch_px : float, camera pixels
        Screen pixel pitch at the rest pose; below 2 the camera cannot resolve the pixels and
        their grid aliases into moire.
    bezel : float, frame heights
        Width of the dark border around the screen.
    gamma : float
        Display transfer exponent applied to the photo's [0, 1] values (1 = faithful).
    gain : float
        Peak brightness relative to the photo.
    black : float in [0, 1]
        Black level (backlight leakage and room reflections).
    tint : (float, float, float)
        R, G, B gains of the white point (> 1 in blue: a cool screen).
    subpixel : float in [0, 1]
        Depth of the RGB sub-pixel stripe pattern.
    matrix : float in [0, 1]
        Depth of the dark row of the black matrix between pixel rows.
    glare : float, grey levels / 255
        Peak of the specular glare patch.
    flicker : float
        Relative amplitude of a refresh flicker (0 = none).
    flicker_hz : float, Hz
        Apparent flicker rate in the video (kept below 0.45 fps; far above the pulse band).
    """

    name: str
    screen: tuple[float, float]
    pitch_px: float
    bezel: float
    gamma: float
    gain: float
    black: float
    tint: tuple[float, float, float]
    subpixel: float
    matrix: float
    glare: float
    flicker: float = 0.0
    flicker_hz: float = 0.0


#: SiW print media (type 2).
PRINT_MEDIA: dict[int, PrintMedium] = {
    1: PrintMedium("laser print, glossy paper", saturation=0.75, black=0.13, paper=(0.93, 0.92, 0.86),
                   halftone="am", period_px=1.35, texture=0.35, grain=0.02, blur_px=0.15, gloss=0.10,
                   margin=0.07),
    2: PrintMedium("inkjet print, matte paper", saturation=0.62, black=0.18, paper=(0.90, 0.88, 0.80),
                   halftone="fm", period_px=0.0, texture=0.7, grain=0.05, blur_px=0.35, gloss=0.0,
                   margin=0.10),
}

#: SiW replay media (type 3).
SCREEN_MEDIA: dict[int, ScreenMedium] = {
    1: ScreenMedium("phone", screen=(0.75, 1.33), pitch_px=0.6, bezel=0.04, gamma=0.9, gain=1.05,
                    black=0.05, tint=(0.95, 0.98, 1.07), subpixel=0.08, matrix=0.10, glare=0.10),
    2: ScreenMedium("tablet", screen=(0.86, 1.15), pitch_px=0.72, bezel=0.07, gamma=1.1, gain=1.0,
                    black=0.06, tint=(0.96, 0.99, 1.05), subpixel=0.14, matrix=0.18, glare=0.12),
    3: ScreenMedium("laptop", screen=(1.44, 0.9), pitch_px=0.8, bezel=0.03, gamma=1.15, gain=0.92,
                    black=0.08, tint=(0.94, 0.98, 1.08), subpixel=0.1, matrix=0.15, glare=0.08),
    4: ScreenMedium("monitor", screen=(1.9, 1.07), pitch_px=1.25, bezel=0.025, gamma=0.95, gain=0.95,
                    black=0.07, tint=(0.95, 0.99, 1.04), subpixel=0.08, matrix=0.12, glare=0.05,
                    flicker=0.003, flicker_hz=11.0),
}

_BEZEL = 0.09  # reflectance of a screen's bezel
_SUB = 3  # sheet pixels per screen pixel: one per R, G, B sub-pixel stripe
_PRINT_OVERSAMPLE = 3.0  # sheet pixels per camera pixel for a print
_MAX_SHEET_PX = 24e6  # sheet pixels (uint8 RGB: 72 MB); larger prints are oversampled less, larger
# screens drawn with 2 sheet pixels per screen pixel (black matrix, no stripes)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("image", f"expected an (H, W, 3) uint8 RGB array, got shape {image.shape} "
                                  f"dtype {image.dtype}")
    return image


def _check_size(size) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 16 or h < 16:
        raise InputError("size", f"expected (width, height) of at least 16 pixels, got {size}")
    return w, h


def _medium(kind: str, medium: int):
    table = PRINT_MEDIA if kind == "print" else SCREEN_MEDIA
    if medium not in table:
        raise InputError("medium", f"{kind} medium must be one of {sorted(table)}, got {medium!r}")
    return table[medium]


def _wander(rng: np.random.Generator, t: np.ndarray, amp: float, band_hz: tuple[float, float]) -> np.ndarray:
    """Sum of 3 sinusoids in ``band_hz`` with random phases, peak magnitude at most ``amp``."""
    f = rng.uniform(band_hz[0], band_hz[1], 3)
    ph = rng.uniform(0, 2 * np.pi, 3)
    w = rng.uniform(0.5, 1.0, 3)
    return amp * (w[:, None] * np.sin(2 * np.pi * f[:, None] * t + ph[:, None])).sum(axis=0) / w.sum()


def plane_motion(n: int, *, fps: float, seed: int = 0, tilt_deg: float = 15.0, roll_deg: float = 4.0,
                 shift: float = 0.03, zoom: float = 0.05, distance: float = 2.5,
                 band_hz: tuple[float, float] = (0.05, 0.5)) -> np.ndarray:
    """Homographies of a hand-held plane seen by a pinhole camera, one per frame.

    The plane (a sheet or a screen) faces the camera at ``distance`` and is turned about its
    vertical and horizontal axes (yaw, pitch, each up to ``tilt_deg``), rolled (up to
    ``roll_deg``), shifted (up to ``shift``) and moved nearer or farther (up to ``zoom`` of
    the distance), each by a slow random sum of sinusoids in ``band_hz``. A plane point
    ``(X, Y, 0)`` goes to ``R (X, Y, 0) + t`` with ``t = (tx, ty, distance (1 + z))`` and is
    projected with focal length ``distance``: ``H = diag(f, f, 1) [r1 r2 t]`` (Hartley &
    Zisserman, Multiple View Geometry, 2nd ed., eq. 8.1), scaled so ``H[2, 2] = 1``. At the
    rest pose ``H`` is the identity.

    Parameters
    ----------
    n : int > 0
        Frames.
    fps : float > 0, Hz
    seed : int
    tilt_deg, roll_deg : float, degrees
    shift : float, frame heights
    zoom : float, fraction of the distance
    distance : float > 0, frame heights
        Camera to plane; smaller = stronger perspective. 2.5 is a sheet held at arm's length
        that fills most of the view.
    band_hz : (float, float), Hz
        Frequencies of the motion.

    Returns
    -------
    np.ndarray, shape (n, 3, 3), float64
        Maps plane points to image points, both in frame heights from the frame centre, in
        homogeneous coordinates.

    Examples
    --------
    >>> H = plane_motion(90, fps=30.0, seed=1)
    >>> H.shape
    (90, 3, 3)
    >>> bool(np.abs(H[:, 2, :2]).max() > 1e-3)  # perspective, not a similarity
    True
    """
    if n < 1 or not fps > 0:
        raise InputError("plane_motion", f"needs n >= 1 and fps > 0, got n={n}, fps={fps}")
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    yaw, pitch, roll = (np.deg2rad(_wander(rng, t, a, band_hz)) for a in (tilt_deg, tilt_deg, roll_deg))
    tx, ty = _wander(rng, t, shift, band_hz), _wander(rng, t, shift, band_hz)
    tz = distance * (1.0 + _wander(rng, t, zoom, band_hz))
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    # R = R_yaw(y axis) @ R_pitch(x axis) @ R_roll(z axis); only its first two columns matter.
    r1 = np.stack([cy * cr + sy * sp * sr, cp * sr, -sy * cr + cy * sp * sr], axis=1)
    r2 = np.stack([-cy * sr + sy * sp * cr, cp * cr, sy * sr + cy * sp * cr], axis=1)
    tt = np.stack([tx, ty, tz], axis=1)
    H = np.stack([r1, r2, tt], axis=2)  # (n, 3, 3): columns r1, r2, t
    H[:, :2, :] *= distance  # focal length = distance: identity at rest
    return H / H[:, 2:3, 2:3]


def _to_frame(size: tuple[int, int]) -> np.ndarray:
    """Frame heights from the frame centre -> pixel coordinates."""
    w, h = size
    return np.array([[h, 0, w / 2], [0, h, h / 2], [0, 0, 1]], dtype=np.float64)


@dataclass(frozen=True)
class _Layout:
    """Where the photo lies on the sheet and the sheet on the plane."""

    sheet_shape: tuple[int, int]  # (rows, cols) of the rendered sheet
    photo_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the photo on the sheet, sheet pixels
    px_per_unit: float  # sheet pixels per frame height
    centre: tuple[float, float]  # sheet pixel at the plane origin (the photo's centre)
    detail: float  # print: sheet pixels per camera pixel; screen: sheet pixels per screen pixel

    def plane_from_sheet(self) -> np.ndarray:
        s = 1.0 / self.px_per_unit
        return np.array([[s, 0, -self.centre[0] * s], [0, s, -self.centre[1] * s], [0, 0, 1]])

    def sheet_from_photo(self, image_shape) -> np.ndarray:
        x0, y0, x1, y1 = self.photo_box
        sx, sy = (x1 - x0) / image_shape[1], (y1 - y0) / image_shape[0]
        return np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5], [0, 0, 1]])


def _print_layout(image_shape, medium: PrintMedium, h: int) -> _Layout:
    aspect = image_shape[1] / image_shape[0]
    mu = medium.margin
    area = (PRINT_PHOTO_HEIGHT + 2 * mu) * (PRINT_PHOTO_HEIGHT * aspect + 2 * mu) * h * h  # camera px
    over = float(min(_PRINT_OVERSAMPLE, np.sqrt(_MAX_SHEET_PX / area)))
    ppu = over * h
    ph = int(round(PRINT_PHOTO_HEIGHT * ppu))
    pw = int(round(ph * aspect))
    m = int(round(medium.margin * ppu))
    return _Layout((ph + 2 * m, pw + 2 * m), (m, m, m + pw, m + ph), ppu, (m + pw / 2, m + ph / 2), over)


def _screen_layout(image_shape, medium: ScreenMedium, h: int) -> _Layout:
    sw, sh = medium.screen
    bz = medium.bezel
    sub = _SUB
    if (sw + 2 * bz) * (sh + 2 * bz) * (h * sub / medium.pitch_px) ** 2 > _MAX_SHEET_PX:
        sub = 2  # no room for sub-pixel stripes: the black matrix grid only
    ppu = h * sub / medium.pitch_px
    spx = int(round(sw * h / medium.pitch_px)), int(round(sh * h / medium.pitch_px))  # screen pixels
    aspect = image_shape[1] / image_shape[0]
    ph = min(spx[1], spx[0] / aspect) * 0.96  # the photo fills the screen, letterboxed
    pw = ph * aspect
    b = int(round(bz * ppu))
    x0 = b + sub * int(round((spx[0] - pw) / 2))
    y0 = b + sub * int(round((spx[1] - ph) / 2))
    box = (x0, y0, x0 + sub * int(round(pw)), y0 + sub * int(round(ph)))
    shape = (spx[1] * sub + 2 * b, spx[0] * sub + 2 * b)
    return _Layout(shape, box, ppu, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), sub)


def _geometry(kind: str, image_shape, *, n: int, fps: float, size: tuple[int, int], medium: int,
              seed: int) -> tuple[_Layout, np.ndarray]:
    """The sheet layout and the homographies from sheet pixels to frame pixels, (n, 3, 3)."""
    if kind == "print":
        layout = _print_layout(image_shape, _medium(kind, medium), size[1])
    elif kind == "replay":
        layout = _screen_layout(image_shape, _medium(kind, medium), size[1])
    else:
        raise InputError("kind", f"must be 'print' or 'replay', got {kind!r}")
    motion = plane_motion(n, fps=fps, seed=seed)
    return layout, _to_frame(size) @ motion @ layout.plane_from_sheet()


def photo_homographies(kind: str, image_shape: tuple[int, ...], *, n: int, fps: float,
                       size: tuple[int, int] = (640, 360), medium: int = 1, seed: int = 0) -> np.ndarray:
    """Where each frame of :func:`print_attack` / :func:`replay_attack` puts the photo.

    Parameters
    ----------
    kind : {"print", "replay"}
    image_shape : (H, W, ...) of the photo
    n, fps, size, medium, seed
        As given to the attack generator.

    Returns
    -------
    np.ndarray, shape (n, 3, 3), float64
        Homographies from photo pixel coordinates (x right, y down, pixel centres at integers)
        to frame pixel coordinates: e.g. to map a face box found in the photo into every frame.
    """
    layout, H = _geometry(kind, image_shape, n=n, fps=fps, size=_check_size(size), medium=medium, seed=seed)
    return H @ layout.sheet_from_photo(image_shape)


# --- rendering ---------------------------------------------------------------------------------

def _room_background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An out-of-focus room: a lit wall, a door, a window, a shelf and a table edge.

    Returns
    -------
    np.ndarray, shape (h, w, 3), float32, grey levels
    """
    w, h = size
    wall = rng.uniform(120, 190) * np.array(rng.uniform(0.9, 1.05, 3), np.float32)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    img = wall * (1.1 - 0.35 * y) * (1.0 - 0.15 * (x - rng.uniform(0, 1)) ** 2)
    img = np.broadcast_to(img, (h, w, 3)).copy()

    def rect(x0, y0, x1, y1, colour):
        img[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)] = colour

    side = rng.choice([-1.0, 1.0])
    dx = 0.5 + side * rng.uniform(0.25, 0.35)
    rect(dx - 0.1, 0.05, dx + 0.1, 1.0, rng.uniform(60, 120, 3))  # door
    wx = 1.0 - dx + rng.uniform(-0.05, 0.05)
    rect(wx - 0.12, 0.08, wx + 0.12, 0.45, rng.uniform(200, 250, 3))  # window
    rect(0.0, 0.55, 0.35, 0.6, rng.uniform(40, 90, 3))  # shelf
    rect(0.0, 0.85, 1.0, 1.0, rng.uniform(70, 140, 3))  # table
    return cv2.GaussianBlur(img, (0, 0), 0.02 * h)


def _glare_field(size: tuple[int, int]) -> np.ndarray:
    """A soft elliptic highlight twice the frame size, peak 1 at its centre; crop to move it."""
    w, h = size
    yy, xx = np.mgrid[0:2 * h, 0:2 * w].astype(np.float32)
    r2 = ((xx - w) / (0.35 * h)) ** 2 + ((yy - h) / (0.22 * h)) ** 2
    return np.exp(-0.5 * r2).astype(np.float32)


def _soft_threshold(ink: np.ndarray, thr: np.ndarray, steep: float = 6.0) -> np.ndarray:
    return np.clip((ink - thr) * steep + 0.5, 0.0, 1.0)


def _render_print(image: np.ndarray, medium: PrintMedium, layout: _Layout,
                  rng: np.random.Generator) -> np.ndarray:
    """The printed sheet, (rows, cols, 3) uint8 reflectance x 255: ink texture, tone, tint, margin."""
    x0, y0, x1, y1 = layout.photo_box
    rows, cols = layout.sheet_shape
    over = layout.detail
    photo = cv2.resize(image, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    lum = photo @ np.array([0.299, 0.587, 0.114], np.float32)
    photo = np.clip(lum[..., None] + medium.saturation * (photo - lum[..., None]), 0.0, 1.0)
    ink = np.zeros((rows, cols, 3), np.float32)  # ink coverage; 0 on bare paper
    ink[y0:y1, x0:x1] = 1.0 - photo
    del photo
    if medium.halftone == "am":
        # One rotated clustered-dot screen per ink (cyan, magenta, yellow at 15, 75, 0 degrees),
        # in blocks of rows to bound memory.
        k = 2 * np.pi / (medium.period_px * over)
        xx = np.arange(cols, dtype=np.float32)[None, :]
        for r0 in range(0, rows, 256):
            yy = np.arange(r0, min(r0 + 256, rows), dtype=np.float32)[:, None]
            block = ink[r0:r0 + len(yy)]
            for c, angle in enumerate((15.0, 75.0, 0.0)):
                ca, sa = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
                thr = 0.5 - 0.25 * (np.cos(k * (xx * ca + yy * sa)) + np.cos(k * (yy * ca - xx * sa)))
                block[..., c] += medium.texture * (_soft_threshold(block[..., c], thr) - block[..., c])
    else:
        # Stochastic (FM) dots: each sheet pixel inked where coverage beats a random threshold.
        for c in range(3):
            thr = rng.random((rows, cols), dtype=np.float32)
            ink[..., c] += medium.texture * (_soft_threshold(ink[..., c], thr, steep=3.0) - ink[..., c])
    sigma = medium.blur_px * over
    if sigma > 0.3:
        cv2.GaussianBlur(ink, (0, 0), sigma, dst=ink)
    paper = np.array(medium.paper, np.float32)
    # Reflectance: paper under no ink, black * paper under full ink.
    ink *= paper * (medium.black - 1.0)
    ink += paper
    # Paper grain: fine fibres and a coarser cloudiness, the same in all three channels.
    fine = cv2.GaussianBlur(rng.standard_normal((rows, cols), dtype=np.float32), (0, 0), 0.8 * over)
    cloud = cv2.GaussianBlur(rng.standard_normal((rows, cols), dtype=np.float32), (0, 0), 4 * over)
    grain = 1.0 + medium.grain * (2.0 * fine + 6.0 * cloud)
    ink *= grain[..., None]
    return np.clip(ink * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _render_screen(image: np.ndarray, medium: ScreenMedium, layout: _Layout) -> tuple[np.ndarray, float]:
    """The screen showing the photo, (rows, cols, 3) uint8, and its scale (grey levels x scale).

    The photo is resampled to the screen's own pixels and shown with the display's tone; each
    screen pixel is drawn as sub x sub sheet pixels: three vertical R, G, B stripes (sub = 3)
    over lit rows and one dark row of the black matrix. The sheet is scaled to fit uint8 with
    the headroom the stripes need (a lit stripe is brighter than the pixel's mean).
    """
    rows, cols = layout.sheet_shape
    sub = int(layout.detail)
    b = int(round(medium.bezel * layout.px_per_unit))
    srows, scols = (rows - 2 * b) // sub, (cols - 2 * b) // sub  # screen pixels
    x0, y0, x1, y1 = layout.photo_box
    content = np.zeros((srows, scols, 3), np.float32)
    px0, py0 = (x0 - b) // sub, (y0 - b) // sub
    pw, ph = (x1 - x0) // sub, (y1 - y0) // sub
    content[py0:py0 + ph, px0:px0 + pw] = cv2.resize(image, (pw, ph), interpolation=cv2.INTER_AREA) / 255.0
    white = medium.gain * np.array(medium.tint, np.float32)
    emit = medium.black + (1.0 - medium.black) * white * content ** medium.gamma
    stripe = np.ones((sub, 3), np.float32)
    if sub == 3:
        stripe[:] = 1.0 - medium.subpixel
        stripe[np.arange(3), np.arange(3)] += 3 * medium.subpixel
    row = np.ones(sub, np.float32)
    row[-1] -= medium.matrix
    row /= row.mean()
    pattern = row[:, None, None] * stripe[None, :, :]  # (sub rows, sub cols, 3), mean 1 per channel
    scale = float(min(1.0, 250.0 / (255.0 * emit.max() * pattern.max())))
    sheet = np.full((rows, cols, 3), int(round(_BEZEL * 255 * scale)), np.uint8)
    for dy in range(sub):
        for dx in range(sub):
            sheet[b + dy:b + srows * sub:sub, b + dx:b + scols * sub:sub] = np.clip(
                emit * (pattern[dy, dx] * 255.0 * scale) + 0.5, 0, 255).astype(np.uint8)
    screen = sheet[b:b + srows * sub, b:b + scols * sub]
    screen[:] = cv2.GaussianBlur(screen, (0, 0), 0.45)  # the glass and each pixel's light spread
    return sheet, scale


def _frames(sheet: np.ndarray, sheet_scale: float, homographies: np.ndarray, *, fps: float,
            size: tuple[int, int], background: np.ndarray | None, glare: float, flicker: float,
            flicker_hz: float, drift: float, noise_sigma: float,
            rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Warp the sheet per frame over a room, add glare, light drift, noise; round stochastically.

    ``sheet`` holds grey levels times ``sheet_scale``; ``homographies`` map sheet pixels to frame
    pixels. The sheet's edge is antialiased by an exact coverage polygon.
    """
    w, h = size
    n = len(homographies)
    if background is None:
        background = _room_background(size, rng)
    else:
        background = np.asarray(background, dtype=np.float32)
        if background.shape != (h, w, 3):
            raise InputError("background", f"expected shape ({h}, {w}, 3) for size {size}, "
                                           f"got {background.shape}")
    t = np.arange(n) / fps
    gain = 1.0 + drift * np.sin(2 * np.pi * rng.uniform(0.02, 0.08) * t + rng.uniform(0, 2 * np.pi))
    if flicker > 0:
        gain *= 1.0 + flicker * np.sin(2 * np.pi * min(flicker_hz, 0.45 * fps) * t)
    field = _glare_field(size) * np.float32(glare * 255 * sheet_scale) if glare > 0 else None
    gx = (_wander(rng, t, 0.25, (0.03, 0.2)) * h + w * rng.uniform(0.35, 0.65)).astype(int)
    gy = (_wander(rng, t, 0.15, (0.03, 0.2)) * h + h * rng.uniform(0.3, 0.5)).astype(int)
    # Noise bank: Gaussian sensor noise plus U[0, 1) - 1/2, read at a random offset each frame
    # (fresh noise for every frame would cost more than all the rest). OpenCV's float -> uint8
    # conversion rounds to nearest, so round(x + U - 1/2) = floor(x + U): stochastic rounding,
    # which keeps changes of less than a grey level in the mean, as sensor noise does.
    m = 8
    bank = (rng.normal(0.0, noise_sigma, (2, h + 2 * m, w + 2 * m, 3))
            + rng.random((2, h + 2 * m, w + 2 * m, 3)) - 0.5).astype(np.float32)
    rows, cols = sheet.shape[:2]
    corners = np.array([[-0.5, -0.5, 1], [cols - 0.5, -0.5, 1], [cols - 0.5, rows - 0.5, 1],
                        [-0.5, rows - 0.5, 1]]).T
    mask = np.zeros((h, w), np.uint8)
    for k in range(n):
        warped = cv2.warpPerspective(sheet, homographies[k], (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        q = homographies[k] @ corners
        quad = np.round(q[:2] / q[2] * 16).T.astype(np.int32)
        mask[:] = 0
        cv2.fillConvexPoly(mask, quad, 255, lineType=cv2.LINE_AA, shift=4)
        alpha = mask.astype(np.float32) * np.float32(1.0 / 255)
        if field is not None:
            x0 = int(np.clip(w - gx[k], 0, w))
            y0 = int(np.clip(h - gy[k], 0, h))
            warped += field[y0:y0 + h, x0:x0 + w, None]
        frame = cv2.blendLinear(warped, background, alpha * np.float32(1.0 / sheet_scale), 1.0 - alpha)
        oy, ox = rng.integers(0, 2 * m + 1, 2)
        yield cv2.addWeighted(frame, float(gain[k]), bank[rng.integers(len(bank)), oy:oy + h, ox:ox + w],
                              1.0, 0.0, dtype=cv2.CV_8U)


def print_attack(image: np.ndarray, *, n: int, fps: float, size: tuple[int, int] = (640, 360),
                 medium: int = 1, seed: int = 0, background: np.ndarray | None = None,
                 noise_sigma: float = 2.0, drift: float = 0.03) -> Iterator[np.ndarray]:
    """Frames of a print attack: the photo printed on paper, held up and moved by hand.

    The sheet (ink texture, tone, tint, paper margin; rendered once) is warped per frame by
    :func:`plane_motion` over the background; a glossy sheet (medium 1) catches a moving
    glare patch. Light drifts slowly; Gaussian sensor noise and stochastic rounding as in
    :func:`fasprep.synth.pulse_in_frames`. No pulse.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8, RGB
        The face photo.
    n : int > 0
        Frames.
    fps : float > 0, Hz
    size : (width, height), pixels
    medium : {1, 2}
        1 laser print on glossy paper (clustered-dot halftone), 2 inkjet on matte paper
        (stochastic dots, ink spread, paper grain).
    seed : int
        Same seed, same frames. :func:`photo_homographies` gives their geometry.
    background : np.ndarray, shape (height, width, 3), float or uint8, RGB, optional
        What the camera sees around the copy. Default: a synthetic out-of-focus room. (To
        give attacks no background cue against :func:`fasprep.synth.animate_face`, pass the
        same blurred photo it uses.)
    noise_sigma : float >= 0, grey levels
    drift : float
        Relative amplitude of the slow (< 0.1 Hz) light drift.

    Yields
    ------
    np.ndarray, shape (height, width, 3), uint8, RGB

    Examples
    --------
    >>> from fasprep.synth import example_face
    >>> frames = list(print_attack(example_face(), n=3, fps=30.0, size=(320, 180)))
    >>> frames[0].shape, frames[0].dtype
    ((180, 320, 3), dtype('uint8'))
    """
    image, size = _check_image(image), _check_size(size)
    med = _medium("print", medium)
    layout, H = _geometry("print", image.shape, n=n, fps=fps, size=size, medium=medium, seed=seed)
    sheet = _render_print(image, med, layout, np.random.default_rng([seed, 2]))
    yield from _frames(sheet, 1.0, H, fps=fps, size=size, background=background, glare=med.gloss,
                       flicker=0.0, flicker_hz=0.0, drift=drift, noise_sigma=noise_sigma,
                       rng=np.random.default_rng([seed, 3]))


def replay_attack(image: np.ndarray, *, n: int, fps: float, size: tuple[int, int] = (640, 360),
                  medium: int = 1, seed: int = 0, background: np.ndarray | None = None,
                  noise_sigma: float = 2.0, drift: float = 0.03) -> Iterator[np.ndarray]:
    """Frames of a replay attack: the photo shown on a screen, held up and moved by hand.

    The screen (display tone, sub-pixel grid, bezel; rendered once) is warped per frame by
    :func:`plane_motion` over the background, so its pixel grid, point-sampled by the
    camera, beats with the sensor grid into moire that changes as the screen moves; a glare
    patch drifts over the glass; a monitor (medium 4) flickers faintly at 11 Hz. No pulse.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8, RGB
    n : int > 0
    fps : float > 0, Hz
    size : (width, height), pixels
    medium : {1, 2, 3, 4}
        Phone, tablet, laptop, monitor (:data:`SCREEN_MEDIA`).
    seed : int
    background : np.ndarray, shape (height, width, 3), optional
        As in :func:`print_attack`.
    noise_sigma : float >= 0, grey levels
    drift : float

    Yields
    ------
    np.ndarray, shape (height, width, 3), uint8, RGB
    """
    image, size = _check_image(image), _check_size(size)
    med = _medium("replay", medium)
    layout, H = _geometry("replay", image.shape, n=n, fps=fps, size=size, medium=medium, seed=seed)
    sheet, scale = _render_screen(image, med, layout)
    yield from _frames(sheet, scale, H, fps=fps, size=size, background=background, glare=med.glare,
                       flicker=med.flicker,
                       flicker_hz=med.flicker_hz, drift=drift, noise_sigma=noise_sigma,
                       rng=np.random.default_rng([seed, 4]))
