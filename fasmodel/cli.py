"""The ``fasmodel`` command: train, evaluate and tabulate the paper's CNN-RNN on fasprep shards."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from fasprep.cli import ErrorExitGroup
from fasprep.errors import FasprepError

from . import __version__


class _Cli(ErrorExitGroup):
    """Bad input and missing files become one line on stderr and exit 2."""

    prog = "fasmodel"
    expected = (FasprepError, FileNotFoundError, ValueError)


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


@main.command("train")
@click.option("--shards", required=True, type=click.Path(file_okay=False, exists=True), help="A fasprep build folder.")
@click.option("--protocol", required=True, help="e.g. siw-p1, siw-p2-3 (a folder of OUT/protocols).")
@click.option("--out", "run", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--supervision", type=click.Choice(["auxiliary", "binary"]), default="auxiliary", show_default=True,
              help="auxiliary: depth + rPPG (the paper); binary: softmax baseline on the same backbone.")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=3e-4, show_default=True)
@click.option("--clip-frames", type=click.IntRange(1), default=5, show_default=True, help="Nf frames per clip.")
@click.option("--stride", type=click.IntRange(1), default=1, show_default=True, help="Frames between a clip's frames.")
@click.option("--clips-per-video", type=click.IntRange(1), default=4, show_default=True,
              help="Clips drawn per training video per epoch.")
@click.option("--width", type=click.FloatRange(0.05, 4), default=1.0, show_default=True,
              help="Channel multiplier of the CNN (1 = the paper's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
@click.option("--num-workers", type=click.IntRange(0), default=2, show_default=True, help="DataLoader workers.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch CPU threads [default: the cores the DataLoader workers leave].")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints/last.pt.")
@click.option("--progress/--no-progress", default=None)
def train_cmd(shards, protocol, run, resume, progress, **opts):
    """Train on the train split of a protocol; a checkpoint after every epoch.

    Writes OUT/config.json, OUT/checkpoints/{epoch-NNN,last}.pt, OUT/log.csv and OUT/curves.png.
    With CUDA it trains in bf16 autocast.
    """
    from .train import TrainConfig, train

    cfg = TrainConfig(shards=shards, protocol=protocol, **opts)
    last = train(cfg, run, resume=resume, progress=_progress(progress))
    click.echo(f"trained {cfg.supervision} on {protocol}: {last}")


@main.command("eval")
@click.option("--shards", required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--protocol", required=True)
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--split", default="test", show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--max-clips", type=click.IntRange(1), default=10, show_default=True,
              help="Clips scored per video (non-overlapping, evenly spaced); its score is their mean.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def eval_cmd(shards, protocol, checkpoint, split, device, batch_size, max_clips, as_json):
    """Score every video of a protocol split and report APCER (per attack type and max), BPCER,
    ACER, HTER and EER (ISO/IEC 30107-3). The threshold is the EER threshold of the dev split
    when the protocol has one, else of the test split itself; the report says which.

    Writes eval-<protocol>.json and scores-<protocol>.csv beside the checkpoint's run folder.
    """
    from .evaluate import evaluate_checkpoint, format_evaluation, write_evaluation

    result = evaluate_checkpoint(shards, protocol, checkpoint, split=split, device=device, batch_size=batch_size,
                                 max_clips=max_clips, progress=sys.stderr.isatty())
    run = Path(checkpoint).resolve().parent
    run = run.parent if run.name == "checkpoints" else run
    path = write_evaluation(result, run)
    click.echo(json.dumps(result) if as_json else f"{format_evaluation(result)}\n  wrote {path}")


@main.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table to this file.")
def report_cmd(runs, out):
    """A Markdown table of evaluated RUNS: one row per protocol and method, mean ± std over folds."""
    from .report import collect, protocol_table

    table = protocol_table(collect(list(runs)))
    click.echo(table)
    if out:
        from fasprep.io import atomic_path

        with atomic_path(out) as tmp:
            tmp.write_text(table + "\n")


@main.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--workdir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder the recipe's relative paths start from.")
@click.option("--progress/--no-progress", default=None)
def run_cmd(recipe, workdir, progress):
    """Execute a recipe (pipelines/*.toml): build the dataset, train and evaluate every protocol
    and fold, write and print the table. Every step resumes where it stopped."""
    from .pipeline import run_recipe

    click.echo(run_recipe(recipe, workdir=workdir, progress=_progress(progress), echo=click.echo))


if __name__ == "__main__":  # pragma: no cover
    main()
