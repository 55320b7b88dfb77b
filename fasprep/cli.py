"""The ``fasprep`` command: a thin click layer over the library.

Each command parses and validates its options, calls one library function and prints. Errors
that fasprep raises on purpose (:class:`~fasprep.errors.FasprepError`) and operating-system
errors (a full disk, a read-only folder) become one line on stderr and exit code 2; Ctrl-C
exits with 130 and SIGTERM with 143; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

import click
import numpy as np

from . import __version__
from .errors import FasprepError


class ErrorExitGroup(click.Group):
    """A click group whose expected failures become one line on stderr and exit status 2."""

    prog = "fasprep"
    expected: tuple[type[BaseException], ...] = (FasprepError,)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except self.expected as exc:
            click.echo(f"{self.prog}: error: {exc}", err=True)
            ctx.exit(2)
        except OSError as exc:  # one line naming the path and the reason
            where = " -> ".join(os.fspath(f) for f in (exc.filename, exc.filename2) if f is not None)
            click.echo(f"{self.prog}: error: {where + ': ' if where else ''}{exc.strerror or exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo(f"{self.prog}: interrupted", err=True)
            ctx.exit(130)
        except Terminated:
            click.echo(f"{self.prog}: terminated", err=True)
            ctx.exit(143)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread while a command runs (a BaseException, as
    KeyboardInterrupt: no ``except Exception`` records it as a video's failure)."""


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM stops the command like Ctrl-C (workers are stopped, temp files removed); the
    previous handler is restored afterwards."""
    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group(cls=ErrorExitGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fasprep")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def main(verbose: bool) -> None:
    """Auxiliary labels for face anti-spoofing datasets: rPPG pulse ground truth and
    dense face depth maps, packed into HDF5 training shards.

    Run `fasprep COMMAND --help` for the options of each command.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="fasprep: %(levelname)s: %(message)s")
    # FFmpeg inside OpenCV prints container errors ("moov atom not found") straight to stderr;
    # fasprep reports them itself as one clear line. The program may set this (the library
    # never touches its caller's environment); build workers inherit it.
    if not verbose:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


PROGRESS_HELP = "Report progress on stderr: a bar on a terminal, else a plain line every 30 s.  [default: on]"


def _progress_option(f):
    return click.option("--progress/--no-progress", default=True, help=PROGRESS_HELP)(f)


def _renamed(old: str, new: str, dest: str, **kw):
    """A hidden option under its old name, kept for one release: its value goes to ``dest`` (the
    option's new name ``new``) with a warning. The command reads it with :func:`_take_renamed`."""
    def callback(ctx, param, value):
        if value is not None:
            prog = getattr(ctx.find_root().command, "prog", "fasprep")
            click.echo(f"{prog}: warning: {old} is now {new}; the old name goes in the next release", err=True)
            ctx.meta.setdefault("fasprep_renamed", {})[dest] = value

    # A name of its own: under the name click would derive ("out", "shards") it would also receive
    # the values of the parameter that now has that name.
    return click.option(old, f"renamed_{old.lstrip('-').replace('-', '_')}", hidden=True, expose_value=False,
                        default=None, callback=callback, **kw)


def _take_renamed(opts: dict) -> dict:
    """``opts`` with the values given under old option names (:func:`_renamed`) put in."""
    return {**opts, **click.get_current_context().meta.get("fasprep_renamed", {})}


def _band(ctx, param, value):
    lo, hi = value
    if not 0 < lo < hi:
        raise click.BadParameter(f"needs 0 < LOW < HIGH, got {lo:g} {hi:g}")
    return (lo, hi)


def _rppg_options(f):
    """Options of the rPPG analysis shared by the commands that run it."""
    opts = [
        click.option("--band", nargs=2, type=float, default=(0.7, 2.5), show_default=True,
                     callback=_band, metavar="LOW HIGH", help="Pulse band in Hz (42-150 bpm)."),
        click.option("--win-sec", type=click.FloatRange(0.5, 10), default=1.6, show_default=True,
                     help="CHROM window length, seconds."),
        click.option("--max-gap-sec", type=click.FloatRange(0), default=0.5, show_default=True,
                     help="Face-loss gaps up to this long are bridged; longer ones split the signal."),
        click.option("--min-face", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                     help="Fail when less than this share of frames carries a pulse."),
        click.option("--bins", type=click.IntRange(2), default=50, show_default=True,
                     help="Bins F of the label spectrum."),
        click.option("--track-win", type=click.FloatRange(1), default=10.0, show_default=True,
                     help="HR track window, seconds."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _analyse_kw(band, win_sec, max_gap_sec, min_face, bins, track_win) -> dict:
    return dict(band=band, win_sec=win_sec, max_gap_sec=max_gap_sec, min_face_fraction=min_face,
                n_bins=bins, track_win_sec=track_win)


def _summary_lines(result) -> list[str]:
    s = result.summary()
    bpm = result.track_bpm[np.isfinite(result.track_bpm)]
    lines = [
        f"{result.source}: HR {s['hr_bpm']} bpm"
        + ("" if s["hr_reliable"] else f" (UNRELIABLE: {s['hr_note']})")
        + f", SNR {s['snr_db']} dB ({s['method'].upper()})",
        f"  {s['n_frames']} frames at {s['fps']:.2f} fps ({s['n_frames'] / s['fps']:.1f} s); face in "
        f"{s['face_frames']} ({s['face_frames'] / s['n_frames']:.0%}); pulse on {len(s['segments'])} segment(s)",
    ]
    if bpm.size:
        lines.append(f"  HR track ({result.params['track_win_sec']:g} s windows): {bpm.min():.1f}-{bpm.max():.1f} bpm, "
                     f"median {np.median(bpm):.1f}")
    return lines


def _write_outputs(result, out_dir: Path | None, png: Path | None) -> list[Path]:
    from .report import plot_rppg, write_rppg_csv, write_rppg_npz

    written = []
    if out_dir:
        stem = Path(out_dir) / f"{Path(result.source).stem}_rppg"
        written += [write_rppg_csv(result, f"{stem}.csv"), write_rppg_npz(result, f"{stem}.npz"),
                    plot_rppg(result, f"{stem}.png")]
    if png:
        written.append(plot_rppg(result, png))
    return written


@main.command("rppg-gt", short_help="rPPG ground truth of a face video: pulse, HR, SNR, label spectrum.")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the outputs: <name>_rppg.csv (per frame), .npz (arrays) and .png (plot).")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the plot (pulse, spectrum with the HR peak, HR track) to this file.")
@_renamed("--plot", "--png", "png", type=click.Path(dir_okay=False, path_type=Path))
@_progress_option
@_rppg_options
def rppg_gt_cmd(video, as_json, out_dir, png, progress, **rppg_opts):
    """rPPG ground truth of a face VIDEO: CHROM pulse, heart rate, SNR, HR track, label spectrum.

    The face (the largest, when there are several) is tracked with MediaPipe's Face Landmarker; the mean
    colour of the facial skin (face oval minus eyes, brows and mouth) per frame gives the pulse
    by the chrominance method of de Haan & Jeanne (2013). Exit status 2, with one line on
    stderr, for an unreadable video or one with too little face; a pulse under 5 s gets its
    heart rate flagged UNRELIABLE (hr_reliable false in --json).

    \b
    Examples:
      fasprep rppg-gt clip.mp4
      fasprep rppg-gt clip.mp4 --json --out rppg-out
    """
    from .rppg import rppg_gt

    png = _take_renamed({"png": png})["png"]
    result = rppg_gt(video, progress=progress, **_analyse_kw(**rppg_opts))
    written = _write_outputs(result, out_dir, png)
    if as_json:
        click.echo(json.dumps(result.summary()))
    else:
        for line in _summary_lines(result):
            click.echo(line)
        for p in written:
            click.echo(f"  wrote {p}")


def _demo_pulse(ids: list[str]):
    """The demo's live videos pulse at 72, 96 and 84 bpm (a plausible PPG wave with beat-to-beat variation)."""
    from .synth import synthetic_ppg

    rates = {v: (72.0, 96.0, 84.0)[i % 3] for i, v in enumerate(ids)}

    def pulse(video_id: str, n: int, fs: float):
        return synthetic_ppg(n, fs=fs, hr_bpm=rates[video_id], seed=len(video_id)), rates[video_id]

    return pulse


@main.command("demo", short_help="Make a tiny dataset offline and build it, end to end.")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dataset", type=click.Choice(["siw", "oulu-npu", "replay-attack", "replay-mobile", "casia-fasd",
                                             "msu-mfsd", "folder"]), default="siw", show_default=True,
              help="Which dataset's layout, names and annotations the example tree has.")
@click.option("--seconds", type=click.FloatRange(5, 60), default=10.0, show_default=True,
              help="Length of the live example videos (attacks are half as long).")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True,
              help="Videos built at once (one core each).")
@click.option("--sfm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Surrey Face Model folder [default: $FASPREP_SFM_DIR, then the user cache].")
@_progress_option
def demo_cmd(out, dataset, seconds, workers, sfm_dir, progress):
    """Build a tiny dataset that fasprep makes itself, offline, end to end.

    Makes OUT/raw: a tree in the layout of DATASET (SiW by default; OULU-NPU with portrait
    videos and eye-position files; Replay-Attack, Replay-Mobile and CASIA-FASD with their
    `frame x y w h` face files; MSU-MFSD with an upside-down video; a folder of live/, print/,
    replay/ videos) with every label
    (live videos of the face photo fasprep ships, with a known pulse in the skin; print and
    replay attacks of it, moved in perspective, with print texture or screen moire and no
    pulse) and the dataset's face annotation. Then runs `fasprep build DATASET OUT/raw
    OUT/build` on it, compares the recovered heart rates with the injected ones and writes QC
    sheets. Depth comes from the Surrey Face Model when it is installed (`fasprep models
    fetch`), else from MediaPipe's mesh.
    """
    from .build import BuildConfig, build, format_result
    from .datasets import get_dataset
    from .errors import ModelAssetError
    from .models import find_sfm
    from .report import build_summary, format_summary, write_preview
    from .synth.mock_tree import (
        MOCK_SIZE,
        demo_faces,
        demo_videos,
        make_tree,
        oulu_rotation,
        read_truth,
    )

    out = Path(out)
    raw, built = out / "raw", out / "build"
    try:
        sfm_dir = find_sfm(sfm_dir)
        source = "sfm"
        click.echo(f"depth source: sfm (Surrey Face Model in {sfm_dir})")
    except ModelAssetError:
        source = "mesh"
        click.echo("depth source: mesh (MediaPipe's own mesh; the Surrey Face Model is not installed: "
                   "`fasprep models fetch` adds it)")
    adapter = get_dataset(dataset)
    videos = demo_videos(dataset)
    names = [adapter.video_name(c) for c in videos]
    ids = [n.rsplit(".", 1)[0] for n in names]
    live = [i for i, c in zip(ids, videos) if adapter.label_of(c)[0] == "live"]
    if (raw / "mock_truth.json").is_file() and all((raw / n).is_file() for n in names):
        click.echo(f"using the example tree in {raw}")
    else:
        subjects = sorted({c[adapter.subject_code] for c in videos}, key=str)
        click.echo(f"writing {raw}: {len(ids)} {adapter.title} videos of {len(subjects)} subjects "
                   f"(live, print, replay)")
        make_tree(adapter, raw, videos, faces=dict(zip(subjects, demo_faces(range(1, len(subjects) + 1)).values())),
                  pulse=_demo_pulse(live), seconds=seconds, attack_seconds=seconds / 2, size=MOCK_SIZE[dataset],
                  rotation_deg=oulu_rotation if dataset == "oulu-npu" else 0, progress=progress)
    result = build(adapter, raw, built, config=BuildConfig(depth_source=source), workers=workers,
                   sfm_dir=sfm_dir if source == "sfm" else None, progress=progress)
    click.echo(format_result(result))
    click.echo(format_summary(build_summary(built)))
    manifest = json.loads((built / "manifest.json").read_text())
    click.echo("heart rate of the live videos, injected -> recovered:")
    for video in read_truth(raw):
        rec = manifest["videos"][video.video_id]
        if video.label == "live" and rec["status"] == "ok":
            click.echo(f"  {video.video_id}: {video.hr_bpm:.1f} -> {rec['hr_bpm']:.1f} bpm")
    shown = [live[0], next(i for i, c in zip(ids, videos) if adapter.label_of(c)[0] == "replay")]
    for video in shown:
        if manifest["videos"][video]["status"] == "ok":
            png = write_preview(built, video, out / f"preview_{video.split('/')[-1]}.png")
            click.echo(f"  wrote {png}")
    click.echo(f"look at: {built / 'manifest.json'}, {built / 'shards'}, {built / 'protocols'}; "
               f"`fasprep info {built}`, `fasprep verify {built}`")
    sys.exit(result.exit_code)


class _ByteSize(click.ParamType):
    """A size such as 2GB, 500MB or 1048576 (bytes)."""

    name = "SIZE"
    _units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().replace(" ", "")
        number = text.rstrip("KMGTB")
        unit = text[len(number):]
        try:
            n = int(float(number) * self._units[unit])
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size like 2GB, 500MB or 1048576", param, ctx)
        if n < 1:
            self.fail("must be positive", param, ctx)
        return n


def _build_options(f):
    """The options of `fasprep build` and its alias `build-siw`."""
    opts = [
        click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
                     help="Videos processed at once (one core each; memory < 1.5 GB each)."),
        click.option("--backend", type=click.Choice(["loky", "dask"]), default="loky", show_default=True,
                     help="loky: local processes. dask: a Dask cluster (needs `pip install 'fasprep[dask]'`)."),
        click.option("--scheduler", metavar="ADDR", default=None,
                     help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 [default: a local cluster of --workers]."),
        click.option("--frame-stride", type=click.IntRange(1), default=1, show_default=True,
                     help="Store every K-th frame (the pulse always uses every frame)."),
        click.option("--crop-size", type=click.IntRange(32, 1024), default=256, show_default=True,
                     help="Side H of the stored face crops, pixels."),
        click.option("--crop-scale", type=click.FloatRange(1.0, 3.0), default=1.3, show_default=True,
                     help="Square crop side over the face's size (the depth map covers the same crop)."),
        click.option("--depth-size", type=click.IntRange(8, 256), default=32, show_default=True,
                     help="Side S of the depth maps and NRR grids."),
        click.option("--depth-source", type=click.Choice(["sfm", "mesh"]), default="sfm", show_default=True,
                     help="sfm: Surrey Face Model fit (non-commercial licence); mesh: MediaPipe's own mesh."),
        click.option("--frame-codec", type=click.Choice(["jpeg", "raw"]), default="jpeg", show_default=True,
                     help="Store crops as JPEG bytes or as uint8 arrays (about 10x larger)."),
        click.option("--jpeg-quality", type=click.IntRange(50, 100), default=90, show_default=True,
                     help="JPEG quality of the stored crops."),
        click.option("--face-select", type=click.Choice(["largest", "confident"]), default="largest",
                     show_default=True, help="Face labelled when several are found and the dataset's box does not "
                     "say which (a warning is recorded when faces compete)."),
        click.option("--min-face-px", type=click.FloatRange(0), default=64.0, show_default=True,
                     help="Quality gate: smallest face (larger side of its landmarks' box) given depth, pixels."),
        click.option("--max-yaw", type=click.FloatRange(0, 90), default=60.0, show_default=True,
                     help="Quality gate: largest head yaw given depth, degrees."),
        click.option("--min-in-frame", type=click.FloatRange(0, 1), default=0.9, show_default=True,
                     help="Quality gate: smallest share of the face inside the frame given depth."),
        click.option("--max-fit-error", type=click.FloatRange(0), default=0.04, show_default=True,
                     help="Quality gate: largest 3DMM landmark error over the face size given depth (sfm)."),
        click.option("--shard-size", type=_ByteSize(), default="2GB", show_default=True,
                     help="Soft bound on the size of one shard file."),
        click.option("--redo-failed", is_flag=True, help="Retry the videos that failed in an earlier run."),
        click.option("--dry-run", is_flag=True,
                     help="Scan names only (no decoding), write OUT/protocols, print the plan."),
        click.option("--sfm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Surrey Face Model folder [default: $FASPREP_SFM_DIR, then the user cache]."),
        click.option("--keep-parts", is_flag=True, help="Keep the per-video part files after packing."),
        click.option("--progress/--no-progress", default=True, help=PROGRESS_HELP),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _shares(ctx, param, value):
    try:
        shares = tuple(float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not three numbers like 0.6,0.2,0.2") from None
    if len(shares) != 3 or min(shares) < 0 or not sum(shares) > 0:
        raise click.BadParameter(f"needs three shares >= 0 (train, dev, test), got {value!r}")
    return shares


def _run_build(adapter, raw, out, *, workers, backend, scheduler, frame_stride, crop_size, crop_scale, depth_size,
               depth_source, frame_codec, jpeg_quality, face_select, min_face_px, max_yaw, min_in_frame,
               max_fit_error, shard_size, redo_failed, dry_run, sfm_dir, keep_parts, progress):
    from .datasets import format_plan, plan, write_protocols

    if scheduler and backend != "dask":
        raise click.BadParameter("--scheduler needs --backend dask", param_hint="--scheduler")
    scan = adapter.scan(raw)
    if dry_run:
        protocols = adapter.protocols(scan.records)
        write_protocols(out, protocols)
        click.echo(format_plan(plan(scan, protocols, count_frames=adapter.count_frames, frame_stride=frame_stride),
                               dataset=adapter.title))
        click.echo(f"wrote {Path(out) / 'protocols'} (dry run: nothing decoded)")
        return
    from .build import BuildConfig, build, format_result

    config = BuildConfig(crop_size=crop_size, crop_scale=crop_scale, depth_size=depth_size,
                         depth_source=depth_source, frame_stride=frame_stride, frame_codec=frame_codec,
                         jpeg_quality=jpeg_quality, face_select=face_select, min_face_px=min_face_px,
                         max_yaw_deg=max_yaw, min_in_frame=min_in_frame, max_fit_error=max_fit_error)
    if scan.unknown:
        click.echo(f"{len(scan.unknown)} file(s) under {raw} are not {adapter.title} videos and are ignored, "
                   f"e.g. {scan.unknown[0]}", err=True)
    with _sigterm_raises():
        result = build(adapter, raw, out, config=config, workers=workers, backend=backend, scheduler=scheduler,
                       redo_failed=redo_failed, shard_bytes=shard_size, sfm_dir=sfm_dir, keep_parts=keep_parts,
                       progress=progress, scan=scan)
    click.echo(format_result(result))
    sys.exit(result.exit_code)


@main.command("build", short_help="Build training shards of a dataset (siw, oulu-npu, replay-attack, ...).")
@click.argument("dataset", type=click.Choice(["siw", "oulu-npu", "replay-attack", "replay-mobile", "casia-fasd",
                                              "msu-mfsd", "folder"]))
@click.argument("raw", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@_build_options
@click.option("--split-seed", type=int, default=0, show_default=True,
              help="folder only: seed of the subject-disjoint split when labels.csv has no split column.")
@click.option("--split-shares", default="0.6,0.2,0.2", show_default=True, callback=_shares, metavar="TRAIN,DEV,TEST",
              help="folder only: shares of the subjects in train, dev and test for that split.")
def build_cmd(dataset, raw, out, split_seed, split_shares, **opts):
    """Build training shards of DATASET from its raw tree RAW into OUT.

    \b
    siw       RAW holds Train/ and Test/ (or SiW_release/ with them):
              {live,spoof}/<subject>/<subject>-<sensor>-<type>-<medium>-<session>.mov + .face boxes
    oulu-npu  RAW holds Train_files/, Dev_files/, Test_files/ (and Protocols/, compared):
              <phone>_<session>_<user>_<file>.avi + .txt eye positions
    replay-attack, replay-mobile  RAW holds train/, devel/, test/ with real/ and attack/
              (+ face-locations/ or faceloc/rect/ with `frame x y w h` boxes)
    casia-fasd  RAW holds train_release/, test_release/: <subject>/<1-8|HR_1-4>.avi
    msu-mfsd  RAW holds scene01/{real,attack}/ (+ train_sub_list.txt, test_sub_list.txt);
              the six upside-down videos are turned on decode
    folder    any tree: labels from RAW/labels.csv (path,label[,subject,split]) or from
              live/, print/, replay/, spoof/ folders

    Each video is decoded once, streaming (rotation from the container): face tracking (the
    dataset's annotation as a prior only), face crops, depth maps (live: the fitted face's
    depth; attacks: zeros), the rPPG pulse and its label spectrum (attacks: zeros), into one
    part file; parts are packed into OUT/shards/<dataset>-NNNNN.h5 with OUT/manifest.json
    (sha256 per shard; split, subject, label and attack of every video) and the protocol files
    OUT/protocols/<protocol>/{train,dev,test}.csv. The format: docs/format.md.

    Re-running resumes: finished videos are skipped, a changed option redoes what it changes.
    A video that fails is recorded (OUT/failures.csv) and the others go on.
    Exit status: 0 all built, 3 finished with failures, 2 bad arguments or input.

    \b
    Examples:
      fasprep build oulu-npu /data/Oulu_NPU /data/oulu-shards --dry-run
      fasprep build siw /data/SiW_release /data/siw-shards --workers 8
      fasprep build folder /data/my-videos /data/my-shards --split-seed 3
      fasprep build siw /nfs/SiW_release /nfs/siw-shards --backend dask --scheduler tcp://head:8786
    """
    from .datasets import get_dataset
    from .datasets.folder import folder_dataset

    if dataset != "folder" and (split_seed != 0 or split_shares != (0.6, 0.2, 0.2)):
        raise click.BadParameter("--split-seed and --split-shares are for the folder dataset only",
                                 param_hint="--split-seed")
    adapter = folder_dataset(fractions=split_shares, seed=split_seed) if dataset == "folder" else get_dataset(dataset)
    _run_build(adapter, raw, out, **opts)


@main.command("build-siw", short_help="Alias of `fasprep build siw`.")
@click.argument("raw", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@_build_options
def build_siw_cmd(raw, out, **opts):
    """Alias of `fasprep build siw RAW OUT` (same options)."""
    from .datasets import get_dataset

    _run_build(get_dataset("siw"), raw, out, **opts)


@main.command("info", short_help="Summarise a build: counts, sizes, HR/SNR, failures.")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text.")
@click.option("--failures", is_flag=True,
              help="List every failed video with its reason and, for an unexpected error, its traceback.")
def info_cmd(out, as_json, failures):
    """Summarise a build folder: counts per split and label, sizes, HR/SNR statistics, failures."""
    if failures:
        from .build import failure_details

        details = failure_details(out)
        if as_json:
            click.echo(json.dumps(details))
            return
        for d in details:
            click.echo(f"{d['video_id']}: {d['error']}")
            if d["traceback"]:
                click.echo("  " + d["traceback"].rstrip().replace("\n", "\n  "))
        click.echo(f"{len(details)} failed video(s)")
        return
    from .report import build_summary, format_summary

    summary = build_summary(out)
    click.echo(json.dumps(summary) if as_json else format_summary(summary))


@main.command("verify", short_help="Check a build: checksums, schema, protocols.")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@_progress_option
@click.option("--repair", is_flag=True,
              help="When manifest.json is lost or unreadable, write it again from the intact shards first.")
def verify_cmd(out, progress, repair):
    """Check a build folder: shard checksums, every video against the schema, protocol files vs
    shards. Exit status 1 when anything is corrupt or missing, 0 when sound."""
    from .shards import read_manifest, verify

    if repair:
        from .build import recover_manifest
        from .errors import InputError

        try:
            read_manifest(out)
        except InputError as exc:
            click.echo(f"manifest: {exc}")
            manifest = recover_manifest(out)
            n_ok = sum(r["status"] == "ok" for r in manifest["videos"].values())
            click.echo(f"recovered {Path(out) / 'manifest.json'}: {n_ok} video(s) in {len(manifest['shards'])} "
                       f"intact shard(s), {len(manifest['videos']) - n_ok} failed")

    problems, notes = verify(out, progress=progress)
    for note in notes:
        click.echo(f"note: {note}")
    for p in problems:
        click.echo(f"problem: {p}")
    if problems:
        click.echo(f"{out}: {len(problems)} problem(s)")
        sys.exit(1)
    click.echo(f"{out}: ok")


@main.command("preview", short_help="A QC sheet (PNG) of one built video.")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--video", "video_id", required=True, metavar="ID",
              help="A video_id of the build, e.g. Train/live/003/003-1-1-1-1.")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the sheet [default: OUT/preview_<name>.png].")
@_renamed("--out", "--png", "png", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--frames", type=click.IntRange(1, 16), default=6, show_default=True, help="Frames shown.")
def preview_cmd(out, video_id, png, frames):
    """A QC sheet of one built video for a person to look at: face crops, depth overlays, the
    pulse and its label spectrum."""
    from .report import write_preview

    png = _take_renamed({"png": png})["png"] or Path(out) / f"preview_{video_id.split('/')[-1]}.png"
    click.echo(f"wrote {write_preview(out, video_id, png, n_frames=frames)}")


@main.command("depth", short_help="Dense depth labels of the face in an image or a video.")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the outputs.")
@click.option("--depth-source", type=click.Choice(["sfm", "mesh"]), default="sfm", show_default=True,
              help="sfm: Surrey Face Model fit (non-commercial licence); mesh: MediaPipe's own mesh (licence-clean).")
@click.option("--depth-size", type=click.IntRange(8, 512), default=32, show_default=True,
              help="Side S of the depth label.")
@_renamed("--size", "--depth-size", "depth_size", type=click.IntRange(8, 512))
@click.option("--crop-scale", type=click.FloatRange(1.0, 3.0), default=1.3, show_default=True,
              help="Square crop side over the face's size.")
@click.option("--preview-size", type=click.IntRange(64, 1024), default=256, show_default=True,
              help="Side of each picture in the previews, pixels.")
@click.option("--sfm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Surrey Face Model folder [default: $FASPREP_SFM_DIR, then the user cache].")
@_progress_option
def depth_cmd(input_path, out_dir, depth_source, depth_size, crop_scale, preview_size, sfm_dir, progress):
    """Dense depth labels of the face in INPUT, an image or a video.

    Writes OUT/<name>_depth.npz (depth (T,S,S), mask, nrr_grid (T,S,S,2), face_ok, box,
    iBUG-68 landmarks, fit RMSE, reject_reason), OUT/<name>_depth.png (crop | depth | overlay) and, for a
    video, OUT/<name>_depth_sheet.png (the same over time). Exit status 2, with one line on
    stderr, for unreadable input, no face, or a missing Surrey Face Model. With several faces
    the largest is labelled; a face that is small (< 64 px), turned more than 60 degrees,
    under 90 % inside the frame or poorly fitted gets no depth (reject_reason says why).

    \b
    Examples:
      fasprep depth face.jpg --out depth-out
      fasprep depth clip.mp4 --out depth-out --depth-source mesh --depth-size 64
    """
    from .depth_labels import depth_labels, is_image
    from .report import write_contact_sheet, write_depth_preview

    size = _take_renamed({"depth_size": depth_size})["depth_size"]
    labels, crops = depth_labels(input_path, source=depth_source, size=size, crop_scale=crop_scale,
                                 sfm_dir=sfm_dir, crop_px=preview_size, progress=progress)
    stem = Path(out_dir) / f"{input_path.stem}_depth"
    written = [labels.save(f"{stem}.npz"), write_depth_preview(labels, crops, f"{stem}.png", name=Path(input_path).name)]
    if not is_image(input_path):
        from .io import probe_video

        written.append(write_contact_sheet(labels, crops, f"{stem}_sheet.png", fps=probe_video(input_path).fps,
                                               name=Path(input_path).name))
    ok = labels.face_ok
    rmse = labels.fit_rmse_px[ok]
    click.echo(f"{input_path}: {depth_source} depth {size}x{size} on {ok.sum()} of {len(ok)} frame(s)"
               + (f", fit RMSE {np.nanmean(rmse):.2f} px" if depth_source == "sfm" else ""))
    for p in written:
        click.echo(f"  wrote {p}")


@main.group("models", short_help="The Surrey Face Model: fetch it, or say where it is.")
def models_group():
    """Model files that fasprep cannot ship: the Surrey Face Model (SFM) for `--depth-source sfm`."""


@models_group.command("fetch", short_help="Download the Surrey Face Model (sha256-checked).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to put the files in [default: the user cache].")
def models_fetch_cmd(dest):
    """Download the Surrey Face Model 3448 files from eos's repository (tag v1.5.0), check their
    sha256 and store them where fasprep looks for them.

    The SFM is free for non-commercial use only; fasprep does not redistribute it.
    """
    from .models import SFM_LICENCE, fetch_sfm, user_cache_dir

    click.echo(SFM_LICENCE)
    folder = fetch_sfm(dest, progress=lambda name: click.echo(f"  downloading {name}"))
    click.echo(f"Surrey Face Model ready in {folder}")
    if dest is not None and Path(dest).resolve() != user_cache_dir().resolve():
        click.echo(f"use it with --sfm-dir {folder} or FASPREP_SFM_DIR={folder}")


@models_group.command("where", short_help="Say which Surrey Face Model folder fasprep would use.")
@click.option("--sfm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Check this folder instead [default: $FASPREP_SFM_DIR, then the user cache].")
def models_where_cmd(sfm_dir):
    """Say which Surrey Face Model folder fasprep would use, after checking its files' sha256."""
    from .models import find_sfm, verify_sfm

    folder = find_sfm(sfm_dir)
    verify_sfm(folder)
    click.echo(str(folder))


@main.group("protocols", short_help="Protocols over several builds (cross-dataset).")
def protocols_group():
    """Protocols that span several builds: each row names its build, so fasmodel trains on several at once."""


@protocols_group.command("cross", short_help="MCIO leave-one-out and CASIA<->Replay protocols over builds.")
@click.argument("builds", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for protocols/<protocol>/<split>.csv and cross.json (not a build folder).")
def protocols_cross_cmd(builds, out):
    """Write the cross-dataset protocols of BUILDS (fasprep build folders, in any order: each
    one's dataset, from its manifest, is its domain: msu-mfsd M, casia-fasd C, replay-attack I,
    oulu-npu O).

    \b
    All four: mcio-to-m, mcio-to-c, mcio-to-i, mcio-to-o (train: the other three domains'
    train+test splits; dev: their dev splits, for a strict threshold; test: the target's
    train+test). C and I: casia-to-replay, replay-to-casia. Train on one with
    `fasmodel train --build OUT --protocol mcio-to-o`.
    """
    from .datasets.cross import format_cross, write_cross

    summary = write_cross(builds, out)
    click.echo(format_cross(summary))
    click.echo(f"wrote {out / 'protocols'} and {out / 'cross.json'}")


if __name__ == "__main__":  # pragma: no cover
    main()
