"""fasmodel.model and fasmodel.losses: shapes, the NRR layer, RGB->HSV, gradients, a tiny overfit."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fasmodel needs torch: pip install torch==2.13.0 (CPU build)")

from fasmodel.losses import (  # noqa: E402
    binary_loss,
    depth_loss,
    rppg_loss,
    stream_for_step,
    total_loss,
)
from fasmodel.model import (  # noqa: E402
    AuxNet,
    BinaryNet,
    build_model,
    clip_spectrum,
    identity_grid,
    liveness_score,
    nrr_register,
    rgb_to_hsv,
    spectrum_hr_bpm,
    to_input,
)

WIDTH = 0.25  # a thin net: every test runs on CPU in seconds


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these nets are small, and on a shared CPU two OpenMP threads that
    wait on each other's barrier run about 10x slower than one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _nonzero_grad(module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def _no_grad(module) -> bool:
    return all(p.grad is None or not p.grad.any() for p in module.parameters())


# --- shapes --------------------------------------------------------------------------------------


def test_auxnet_shapes_at_the_papers_input_size():
    torch.manual_seed(0)
    model = AuxNet(width=WIDTH)
    with torch.no_grad():
        out = model(torch.rand(2, 5, 6, 256, 256))
    assert out["depth"].shape == (2, 5, 32, 32)
    assert out["spectrum"].shape == (2, 50)
    assert model.attack_score(out).shape == (2,)


@pytest.mark.parametrize("n_frames", [1, 3])
def test_auxnet_any_clip_length_and_input_divisible_by_8(n_frames):
    model = AuxNet(width=WIDTH, n_bins=20)
    frames = torch.randint(0, 256, (2, n_frames, 64, 64, 3), dtype=torch.uint8)  # uint8 frames accepted
    with torch.no_grad():
        out = model(frames, torch.rand(2, n_frames, 32, 32, 2) * 2 - 1)
    assert out["depth"].shape == (2, n_frames, 8, 8)  # input / 8
    assert out["spectrum"].shape == (2, 20)


def test_auxnet_rejects_bad_shapes():
    model = AuxNet(width=WIDTH)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 2, 6, 60, 60))
    with pytest.raises(ValueError, match="frames"):
        model(torch.rand(2, 6, 64, 64))  # no clip axis
    with pytest.raises(ValueError, match="nrr_grid"):
        model(torch.rand(1, 2, 6, 64, 64), torch.zeros(1, 2, 16, 16, 2))


def test_auxnet_without_grid_samples_at_the_identity_grid():
    torch.manual_seed(0)
    model = AuxNet(width=WIDTH).eval()
    x = torch.rand(1, 2, 6, 64, 64)
    with torch.no_grad():
        a = model(x)
        b = model(x, identity_grid(32, batch=2).reshape(1, 2, 32, 32, 2))
    torch.testing.assert_close(a["spectrum"], b["spectrum"])


def test_binarynet_logits_and_score():
    model = build_model("binary", width=WIDTH)
    assert isinstance(model, BinaryNet)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 6, 64, 64))
    assert out["logits"].shape == (2, 3, 2)
    score = model.attack_score(out)
    assert score.shape == (2,) and ((score >= 0) & (score <= 1)).all()


def test_build_model():
    assert isinstance(build_model(width=WIDTH), AuxNet)
    assert build_model(n_bins=7, width=WIDTH).fc.out_features == 7
    with pytest.raises(ValueError, match="supervision"):
        build_model("depth")


def test_width_scales_the_backbone():
    thin, full = AuxNet(width=0.25), AuxNet(width=1.0)
    assert full.backbone.out_channels == 3 * 128 and thin.backbone.out_channels == 3 * 32
    assert BinaryNet(width=0.25).backbone.out_channels == thin.backbone.out_channels


# --- NRR layer -----------------------------------------------------------------------------------


def _features_and_depth(n=2, c=3, s=8):
    torch.manual_seed(1)
    features = torch.randn(n, c, s, s)
    depth = torch.rand(n, 1, s, s)  # about 10 % below the threshold
    depth[:, :, :2] = 0.05  # two rows of background
    return features, depth, features * (depth >= 0.1)


def test_nrr_identity_grid_returns_the_masked_features():
    features, depth, masked = _features_and_depth()
    out = nrr_register(features, depth, identity_grid(8, batch=2))
    torch.testing.assert_close(out, masked, atol=1e-6, rtol=0)


def test_nrr_flipped_grid_flips_the_features():
    features, depth, masked = _features_and_depth()
    grid = identity_grid(8, batch=2).clone()
    grid[..., 0] *= -1  # x mirrored
    torch.testing.assert_close(nrr_register(features, depth, grid), masked.flip(-1), atol=1e-6, rtol=0)
    grid = identity_grid(8, batch=2).clone()
    grid[..., 1] *= -1  # y mirrored
    torch.testing.assert_close(nrr_register(features, depth, grid), masked.flip(-2), atol=1e-6, rtol=0)


def test_nrr_mask_is_depth_at_least_threshold():
    features = torch.ones(1, 1, 2, 2)
    depth = torch.tensor([[[0.0, 0.09], [0.1, 0.8]]])  # (N, h, w) accepted too
    out = nrr_register(features, depth, identity_grid(2))
    assert out.flatten().tolist() == [0.0, 0.0, 1.0, 1.0]


def test_nrr_grid_without_a_face_samples_zeros():
    features, depth, masked = _features_and_depth()
    grid = identity_grid(8, batch=2).clone()
    grid[1] = float("nan")  # frame 1 has no fitted face
    out = nrr_register(features, depth, grid)
    torch.testing.assert_close(out[0], masked[0], atol=1e-6, rtol=0)
    assert torch.isfinite(out).all() and not out[1].any()


def test_nrr_grid_size_is_independent_of_the_feature_map():
    # a 4 x 4 grid at the centres of 2 x 2 pixel blocks of an 8 x 8 map: bilinear = block mean
    features = torch.randn(1, 1, 8, 8)
    out = nrr_register(features, torch.ones(1, 1, 8, 8), identity_grid(4))
    torch.testing.assert_close(out, torch.nn.functional.avg_pool2d(features, 2), atol=1e-6, rtol=0)


# --- input conversion ----------------------------------------------------------------------------


def _test_pixels():
    rng = np.random.default_rng(0)
    special = [[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0], [0, 255, 0], [0, 0, 255],
               [255, 255, 0], [0, 255, 255], [255, 0, 255], [200, 200, 10], [10, 200, 200], [255, 0, 1]]
    return np.concatenate([np.array(special, np.uint8), rng.integers(0, 256, (2000, 3), dtype=np.uint8)])


def test_rgb_to_hsv_matches_colorsys():
    px = _test_pixels()
    got = rgb_to_hsv(torch.from_numpy(px / 255.0).float().T[:, :, None])[:, :, 0].T.numpy()
    want = np.array([colorsys.rgb_to_hsv(*(p / 255.0)) for p in px])
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_rgb_to_hsv_matches_opencv_full_range():
    cv2 = pytest.importorskip("cv2")
    px = _test_pixels()
    want = cv2.cvtColor(px[None], cv2.COLOR_RGB2HSV_FULL)[0].astype(np.int64)  # H 0-255 = full circle
    got = to_input(px[None, None])[0, 3:, 0].T.numpy().astype(np.float64)  # (N, 3) from (1, 1, N, 3)
    dh = np.abs(np.round(got[:, 0] * 256) - want[:, 0])
    assert np.minimum(dh, 256 - dh).max() <= 1  # cv2 rounds; hue wraps
    assert np.abs(got[:, 1] * 255 - want[:, 1]).max() <= 1
    np.testing.assert_array_equal(np.round(got[:, 2] * 255), want[:, 2])


def test_to_input_layout():
    frames = np.zeros((2, 3, 8, 16, 3), np.uint8)
    frames[..., 0] = 255  # red
    x = to_input(frames)
    assert x.shape == (2, 3, 6, 8, 16) and x.dtype == torch.float32
    assert x[0, 0, :, 0, 0].tolist() == [1, 0, 0, 0, 1, 1]  # R G B, H S V
    with pytest.raises(ValueError, match="uint8"):
        to_input(frames.astype(np.float32))


# --- losses and scores ---------------------------------------------------------------------------


def test_depth_loss_skips_frames_without_a_face():
    target = torch.zeros(2, 3, 4, 4)  # spoof: zeros, and they count
    pred = torch.full((2, 3, 4, 4), 0.5)
    face_ok = torch.ones(2, 3, dtype=torch.bool)
    face_ok[1, 2] = False
    pred[1, 2] = 100.0  # no label there: must not matter
    assert depth_loss(pred, target, face_ok).item() == pytest.approx(0.25)
    none = depth_loss(pred.requires_grad_(), target, torch.zeros(2, 3, dtype=torch.bool))
    assert none.item() == 0 and none.requires_grad


def test_rppg_loss_is_squared_distance_per_video():
    target = torch.zeros(2, 50)
    target[0, 10] = 1.0
    assert rppg_loss(torch.zeros(2, 50), target).item() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        rppg_loss(torch.zeros(2, 50), torch.zeros(2, 40))


def test_binary_loss_per_frame():
    logits = torch.tensor([[[10.0, -10.0]] * 3, [[-10.0, 10.0]] * 3])  # confident and right
    assert binary_loss(logits, torch.tensor([0, 1])).item() < 1e-6
    assert binary_loss(logits, torch.tensor([1, 0])).item() > 10


def test_stream_schedule_and_total_loss():
    assert [stream_for_step(s) for s in range(4)] == ["single", "sequence"] * 2
    assert [stream_for_step(s, single_steps=3) for s in range(5)] == ["single"] * 3 + ["sequence", "single"]
    out = {"depth": torch.ones(1, 1, 2, 2), "spectrum": torch.ones(1, 4)}
    batch = {"depth": torch.zeros(1, 1, 2, 2), "face_ok": torch.ones(1, 1, dtype=torch.bool),
             "rppg_fft": torch.zeros(1, 4)}
    single = total_loss(out, batch, stream="single")
    assert single["loss"].item() == 1.0 and "rppg" not in single
    seq = total_loss(out, batch, stream="sequence", rppg_weight=0.5)
    assert seq["loss"].item() == pytest.approx(1.0 + 0.5 * 4) and seq["rppg"].item() == 4.0
    with pytest.raises(ValueError, match="stream"):
        total_loss(out, batch, stream="both")


def test_liveness_score_is_the_papers_formula():
    depth = torch.zeros(2, 5, 32, 32)
    depth[0, :, :16] = 1.0  # 512 face pixels at depth 1 on every frame
    spectrum = torch.zeros(2, 50)
    spectrum[0, 7] = 1.0
    live = liveness_score(depth, spectrum)
    assert live.tolist() == pytest.approx([1 + 0.015 * 512, 0.0])
    assert AuxNet.attack_score({"depth": depth, "spectrum": spectrum}).tolist() == pytest.approx((-live).tolist())


# --- training ------------------------------------------------------------------------------------


def test_gradients_depth_loss_reaches_the_cnn_rppg_loss_the_rnn():
    torch.manual_seed(0)
    model = AuxNet(width=WIDTH)
    with torch.no_grad():
        model.depth_head[-1].bias.fill_(1.0)  # D >= 0.1 everywhere: the NRR mask is open
    x = torch.rand(2, 2, 6, 64, 64)
    out = model(x)
    depth_loss(out["depth"], torch.zeros_like(out["depth"]), torch.ones(2, 2, dtype=torch.bool)).backward()
    assert _nonzero_grad(model.backbone.stem) and _nonzero_grad(model.depth_head)
    assert _no_grad(model.lstm) and _no_grad(model.fc) and _no_grad(model.feature_head)

    model.zero_grad(set_to_none=True)
    out = model(x)
    rppg_loss(out["spectrum"], torch.ones(2, 50)).backward()
    assert _nonzero_grad(model.lstm) and _nonzero_grad(model.fc)
    assert _nonzero_grad(model.feature_head) and _nonzero_grad(model.backbone.stem)  # through T
    assert _no_grad(model.depth_head)  # the mask is a hard threshold


def _two_clips(size=64, n_frames=5, n_bins=50):
    """A "live" clip (bright face blob, depth blob, pulse peak) and a "spoof" clip (noise, zeros)."""
    s = size // 8
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, n_frames, size, size, 3)).astype(np.float64)
    yy, xx = np.mgrid[:size, :size] + 0.5
    face = np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (2 * (size / 4) ** 2))
    frames[0] = 0.3 * frames[0] + 180 * face[..., None]
    yy, xx = np.mgrid[:s, :s] + 0.5
    blob = np.exp(-((xx - s / 2) ** 2 + (yy - s / 2) ** 2) / (2 * (s / 4) ** 2))
    spectrum = np.exp(-(np.arange(n_bins) - 20.0) ** 2 / 8)
    batch = {
        "depth": torch.tensor(np.stack([np.broadcast_to(blob, (n_frames, s, s)), np.zeros((n_frames, s, s))]),
                              dtype=torch.float32),
        "face_ok": torch.ones(2, n_frames, dtype=torch.bool),
        "rppg_fft": torch.tensor(np.stack([spectrum / np.linalg.norm(spectrum), np.zeros(n_bins)]),
                                 dtype=torch.float32),
    }
    return np.clip(frames, 0, 255).astype(np.uint8), batch


def test_auxnet_overfits_two_clips_and_the_score_separates_them():
    torch.manual_seed(0)
    frames, batch = _two_clips()
    x = to_input(frames)
    model = AuxNet(width=WIDTH)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = model(x)
        loss = total_loss(out, batch, stream="sequence")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 20, losses
    model.eval()
    with torch.no_grad():
        score = model.attack_score(model(x))
    live, spoof = score.tolist()
    assert spoof - live > 0.5, score  # live: a depth map and a pulse; spoof: neither


# --- the long-clip rPPG head ---------------------------------------------------------------------


def test_clip_spectrum_peaks_at_the_pulse_rate_for_any_frame_spacing():
    from fasprep.rppg import label_frequencies, label_spectrum

    freqs = torch.as_tensor(label_frequencies(50), dtype=torch.float32)
    for fs, n in ((30.0, 128), (10.0, 48)):  # consecutive frames, and every third at 30 fps
        t = np.arange(n) / fs
        for bpm in (60.0, 84.0, 120.0):
            x = np.sin(2 * np.pi * bpm / 60 * t)
            f = clip_spectrum(torch.tensor(x[None], dtype=torch.float32), torch.tensor(t[None], dtype=torch.float32),
                              freqs)
            assert abs(spectrum_hr_bpm(f)[0] - bpm) <= 108 / 49 / 2 + 1e-6  # within half a bin
            # the label's construction: normalised, the same spectrum as fasprep's label
            np.testing.assert_allclose((f / f.norm()).numpy()[0], label_spectrum(x, fs=fs), atol=1e-4)
    # uneven times (a dropped frame) are used as given
    t = np.delete(np.arange(61) / 15.0, 30)
    f = clip_spectrum(torch.tensor(np.sin(2 * np.pi * 1.5 * t)[None], dtype=torch.float32),
                      torch.tensor(t[None], dtype=torch.float32), freqs)
    assert abs(spectrum_hr_bpm(f)[0] - 90) <= 108 / 49 / 2 + 1e-6


def test_signal_head_outputs_and_gradients():
    torch.manual_seed(0)
    model = AuxNet(width=WIDTH, n_bins=30, rppg_head="signal")
    with torch.no_grad():
        model.depth_head[-1].bias.fill_(1.0)  # the NRR mask open
    times = torch.arange(12, dtype=torch.float32).expand(2, 12) / 10
    out = model(torch.rand(2, 12, 6, 32, 32), None, times)
    assert out["signal"].shape == (2, 12) and out["spectrum"].shape == (2, 30) and out["depth"].shape == (2, 12, 4, 4)
    rppg_loss(out["spectrum"], torch.ones(2, 30)).backward()
    assert _nonzero_grad(model.lstm) and _nonzero_grad(model.fc) and _nonzero_grad(model.backbone.stem)
    with pytest.raises(ValueError, match="times"):
        model(torch.rand(2, 12, 6, 32, 32), None, times[:, :5])
    with pytest.raises(ValueError, match="rppg_head"):
        AuxNet(rppg_head="fft")


def _pulsing_clips(rates, rng, *, n=40, fs=10.0, amplitude=6.0):
    """Uniform skin-coloured frames whose brightness follows a sine at each rate (random phase,
    noise), and their label spectra."""
    from fasprep.rppg import label_spectrum

    t = np.arange(n) / fs
    frames, labels = [], []
    for bpm in rates:
        pulse = np.sin(2 * np.pi * bpm / 60 * t + rng.uniform(0, 2 * np.pi))
        base = rng.uniform(90, 160, (1, 16, 16, 3))
        x = base + amplitude * pulse[:, None, None, None] + rng.normal(0, 1, (n, 16, 16, 3))
        frames.append(np.clip(x, 0, 255).astype(np.uint8))
        labels.append(label_spectrum(pulse, fs=fs))
    times = torch.tensor(t, dtype=torch.float32).expand(len(rates), n)
    return torch.as_tensor(np.stack(frames)), torch.as_tensor(np.stack(labels)), times


def test_signal_head_learns_distinct_pulse_rates():
    """The mechanism: trained on clips at four rates, it finds each rate on fresh clips (new
    phases, colours and noise), where one spectrum for all could not."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    rates = [60.0, 75.0, 90.0, 105.0]
    model = AuxNet(width=0.125, grid_size=2, rppg_head="signal")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        frames, labels, times = _pulsing_clips(rates, rng)
        loss = rppg_loss(model(frames, None, times)["spectrum"], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    errors = []
    with torch.no_grad():
        for _ in range(3):
            frames, labels, times = _pulsing_clips(rates, rng)
            errors += list(np.abs(spectrum_hr_bpm(model(frames, None, times)["spectrum"]) - rates))
    errors = np.array(errors)
    # 12 fresh clips: most within two bins (2.2 bpm each; measured: 11 or 12 of 12 within one
    # bin, an occasional clip at its harmonic); the best constant rate is 15 bpm off on average
    assert np.sum(errors <= 4.5) >= 10 and np.median(errors) < 2.5, errors
