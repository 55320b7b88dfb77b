"""The ``fasmodel`` command: train, evaluate and tabulate the paper's CNN-RNN on fasprep shards."""

from __future__ import annotations

import json
import logging
import sys

import click

from fasprep.cli import ErrorExitGroup, _renamed, _take_renamed
from fasprep.errors import FasprepError

from . import __version__

#: What to install when torch is missing (CPU build first: an unpinned torch pulls CUDA).
TORCH_HINT = ("fasmodel needs PyTorch: pip install torch --index-url https://download.pytorch.org/whl/cpu "
              "(the CPU build; a plain `pip install torch` pulls CUDA), then pip install 'fasprep[train]'")


class _Cli(ErrorExitGroup):
    """Bad input and missing files become one line on stderr and exit 2; a missing torch one line saying
    what to install."""

    prog = "fasmodel"
    expected = (FasprepError, FileNotFoundError, ValueError)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            if exc.name != "torch" and not str(exc.name or "").startswith("torch."):
                raise
            click.echo(f"{self.prog}: error: {TORCH_HINT}", err=True)
            ctx.exit(2)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fasmodel")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def main(verbose: bool) -> None:
    """Train and evaluate the CNN-RNN of Liu, Jourabloo & Liu (CVPR 2018) on fasprep shards.

    Run `fasmodel COMMAND --help` for the options of each command.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="fasmodel: %(levelname)s: %(message)s")


def _progress(value):
    return sys.stderr.isatty() if value is None else value


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


BUILD_HELP = ("A fasprep build folder (the OUT of `fasprep build`), or a folder of protocols over several builds "
              "(the --out of `fasprep protocols cross`).")


@main.command("train", short_help="Train on a protocol's train split; a checkpoint every epoch.")
@click.option("--build", "shards", type=click.Path(file_okay=False, exists=True),
              help=BUILD_HELP[:-1] + " (required unless --resume).")
@_renamed("--shards", "--build", "shards", type=click.Path(file_okay=False, exists=True))
@click.option("--protocol", help="e.g. siw-p1, siw-p2-3 (a folder of OUT/protocols; required unless --resume).")
@click.option("--out", "run", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--supervision", type=click.Choice(["auxiliary", "binary"]), default="auxiliary", show_default=True,
              help="auxiliary: depth + rPPG (the paper); binary: softmax baseline on the same backbone.")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True, help="Epochs in all (a resumed run "
              "trains up to this many).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Clips per batch, per stream.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=3e-3, show_default=True,
              help="Adam learning rate (the paper's 3e-3).")
@click.option("--weight-decay", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Adam weight decay (the paper uses none).")
@click.option("--clip-frames", type=click.IntRange(1), default=5, show_default=True,
              help="Nf frames per clip (the paper's 5; e.g. 64 with --rppg-head signal).")
@click.option("--stride", type=click.IntRange(1), default=1, show_default=True,
              help="Stored frames between a clip's frames (1: consecutive, as the paper).")
@click.option("--rppg-head", type=click.Choice(["spectrum", "signal"]), default="spectrum", show_default=True,
              help="spectrum: FC on the LSTM's last state (for 5-frame clips); signal: a pulse value per frame "
                   "and its DFT (long clips; can learn a heart rate).")
@click.option("--clips-per-video", type=click.IntRange(1), default=4, show_default=True,
              help="Clips drawn per training video per epoch.")
@click.option("--width", type=click.FloatRange(0.05, 4), default=1.0, show_default=True,
              help="Channel multiplier of the CNN (1 = the paper's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights, clip positions and batch order.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
@click.option("--num-workers", type=click.IntRange(0), default=2, show_default=True, help="DataLoader workers.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch CPU threads [default: the cores the DataLoader workers leave, at most $OMP_NUM_THREADS].")
@click.option("--tensorboard", is_flag=True, help="Also log the losses for TensorBoard in OUT/tb (needs tensorboard).")
@click.option("--resume", is_flag=True, help="Continue OUT from checkpoints/last.pt with OUT/config.json; options "
              "given again must agree (except --epochs, --device, --num-workers, --threads, --tensorboard).")
@click.option("--progress/--no-progress", default=None,
              help="A progress bar per epoch [default: on a terminal; else one line per epoch].")
@click.pass_context
def train_cmd(ctx, run, resume, progress, **opts):
    """Train on the train split of a protocol; a checkpoint after every epoch.

    Writes OUT/config.json, OUT/checkpoints/{epoch-NNN,last}.pt, OUT/log.csv, OUT/log.json and
    OUT/curves.png. With CUDA it trains in bf16 autocast.
    """
    from click.core import ParameterSource

    from .train import TrainConfig, resume_config, train

    renamed = _take_renamed({})
    opts = {**opts, **renamed}
    if resume:
        given = {k: v for k, v in opts.items()
                 if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE or k in renamed}
        cfg = resume_config(run, given)
    else:
        missing = [{"shards": "--build"}.get(k, f"--{k}") for k in ("shards", "protocol") if not opts[k]]
        if missing:
            raise click.UsageError(f"{' and '.join(missing)} required (unless --resume)")
        cfg = TrainConfig(**opts)
    bar = _progress(progress)
    last = train(cfg, run, resume=resume, progress=bar, echo=None if bar else _echo_err)
    click.echo(f"trained {cfg.supervision} on {cfg.protocol}: {last}")


@main.command("eval", short_help="Score a protocol split: APCER/BPCER/ACER, HTER, EER, AUC, HR error.")
@click.option("--build", "shards", type=click.Path(file_okay=False, exists=True), default=None, help=BUILD_HELP)
@_renamed("--shards", "--build", "shards", type=click.Path(file_okay=False, exists=True))
@click.option("--protocol", required=True, help="e.g. siw-p1.")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False, exists=True),
              help="A checkpoint (RUN/checkpoints/last.pt or epoch-NNN.pt).")
@click.option("--split", default="test", show_default=True, help="The protocol split to score.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if present), cpu, cuda ...")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Clips per batch.")
@click.option("--num-workers", type=click.IntRange(0), default=2, show_default=True,
              help="DataLoader workers (HDF5 reads and JPEG decoding beside the model).")
@click.option("--max-clips", type=click.IntRange(1), default=10, show_default=True,
              help="Clips scored per video (non-overlapping, evenly spaced); its score is their mean.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=None, help="A progress bar [default: on a terminal].")
def eval_cmd(shards, protocol, checkpoint, split, device, batch_size, num_workers, max_clips, as_json, progress):
    """Score every video of a protocol split: APCER (per attack type and max), BPCER, ACER, HTER,
    EER, AUC and TPR at FPR = 1 % (ISO/IEC 30107-3), and for live videos the heart rate of the
    predicted spectrum against the label's. The threshold is the EER threshold of the dev split
    when the protocol has one, else of the test split itself; the report says which. A
    cross-dataset protocol (`fasprep protocols cross`) also gets the HTER at the target's own EER
    threshold, the field's customary "oracle", beside the strict one from the sources' dev videos.

    Writes eval-<protocol>-<split>-epochNNN.json and scores-<...>.csv in the checkpoint's run folder.
    """
    from .evaluate import evaluate_checkpoint, format_evaluation, write_evaluation
    from .predict import run_folder

    shards = _take_renamed({"shards": shards})["shards"]
    if shards is None:
        raise click.UsageError("--build is required")

    result = evaluate_checkpoint(shards, protocol, checkpoint, split=split, device=device, batch_size=batch_size,
                                 max_clips=max_clips, num_workers=num_workers, progress=_progress(progress))
    path = write_evaluation(result, run_folder(checkpoint))
    click.echo(json.dumps(result) if as_json else f"{format_evaluation(result)}\n  wrote {path}")


@main.command("predict", short_help="Is a video live? The face pipeline, the model, the decision.")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False, exists=True), help="A trained checkpoint.")
@click.option("--threshold", type=float, default=None,
              help="Attack iff score >= this [default: the threshold of the run's evaluation of that epoch].")
@click.option("--max-clips", type=click.IntRange(1), default=10, show_default=True,
              help="Clips scored (non-overlapping, evenly spaced); the score is their mean.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if present), cpu, cuda ...")
@click.option("--sfm-dir", type=click.Path(file_okay=False), default=None,
              help="The Surrey Face Model folder, for checkpoints trained on sfm depth [default: as fasprep finds it].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def predict_cmd(video, checkpoint, threshold, max_clips, device, sfm_dir, as_json):
    """Is VIDEO live? Runs fasprep's face pipeline on it (tracking, crops, NRR grid, with the
    checkpoint's build options) and prints the attack score and the decision."""
    from .predict import format_prediction, predict_video

    p = predict_video(video, checkpoint, threshold=threshold, max_clips=max_clips, device=device, sfm_dir=sfm_dir)
    click.echo(json.dumps(p) if as_json else format_prediction(p))


@main.command("export", short_help="Export a checkpoint's model as ONNX.")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False, exists=True), help="A trained checkpoint.")
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False),
              help="Write the model (uint8 frames -> attack score and outputs) as ONNX here.")
def export_cmd(checkpoint, onnx_path):
    """Export a checkpoint's model for inference without torch (inputs and outputs: fasmodel.export)."""
    from .export import export_onnx

    click.echo(f"wrote {export_onnx(checkpoint, onnx_path)}")


@main.command("report", short_help="A Markdown table of evaluated runs, as in the paper.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--table", "out", type=click.Path(dir_okay=False), default=None,
              help="Also write the table to this Markdown file.")
@_renamed("--out", "--table", "out", type=click.Path(dir_okay=False))
def report_cmd(runs, out):
    """A Markdown table of evaluated RUNS: one row per protocol and method, mean ± std over folds;
    cross-dataset protocols (fasprep protocols cross) get their own table, HTER at the oracle and
    the strict threshold, AUC and TPR at FPR = 1 % per target."""
    from .report import collect, tables

    out = _take_renamed({"out": out})["out"]
    table = tables(collect(list(runs)))
    click.echo(table)
    if out:
        from fasprep.io import atomic_path

        with atomic_path(out) as tmp:
            tmp.write_text(table + "\n")


@main.command("run", short_help="Run a recipe: build, train and evaluate (mock, siw, or a TOML file).")
@click.argument("recipe")
@click.option("--workdir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder the recipe's relative paths start from.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars [default: on a terminal; else one line per epoch].")
def run_cmd(recipe, workdir, progress):
    """Execute a RECIPE (a TOML file, or a packaged one by name: mock, siw): build the dataset,
    train and evaluate every protocol and fold, write and print the table. Every step resumes
    where it stopped."""
    from .pipeline import run_recipe

    click.echo(run_recipe(recipe, workdir=workdir, progress=_progress(progress), echo=click.echo))


if __name__ == "__main__":  # pragma: no cover
    main()
