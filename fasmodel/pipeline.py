"""Recipes: build a dataset, train and evaluate every protocol and fold, write the table.

A recipe is a TOML file; the package ships two (``fasmodel/recipes/``: ``siw``, the paper's
experiments, and ``mock``, the same on a small generated tree), found by name
(:func:`find_recipe`)::

    [dataset]
    name = "siw"
    raw = "/data/SiW_release"          # or a [dataset.mock] table: generate a mock SiW tree there
    shards = "runs/siw/shards"

    [build]                            # keyword arguments of fasprep.build.BuildConfig / build()
    workers = 8
    depth_source = "sfm"

    [train]                            # fields of fasmodel.train.TrainConfig
    epochs = 20

    [evaluate]
    protocols = ["siw-p1", "siw-p2-1", "siw-p2-2", "siw-p2-3", "siw-p2-4", "siw-p3-1", "siw-p3-2"]
    supervision = ["auxiliary", "binary"]

    [output]
    runs = "runs/siw"

Relative paths are taken from ``workdir`` (default: the current folder). Every step resumes:
the build skips built videos, training continues from a run's last checkpoint, and a run that
has finished its epochs is only evaluated.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from fasprep.build import BuildConfig, build, format_result
from fasprep.io import atomic_path

from .evaluate import evaluate_checkpoint, format_evaluation, write_evaluation
from .report import protocol_table
from .train import TrainConfig, load_checkpoint, train

_BUILD_CONFIG = {f.name for f in dataclasses.fields(BuildConfig)}


RECIPES = Path(__file__).resolve().parent / "recipes"


def packaged_recipes() -> list[str]:
    """Names of the recipes shipped with fasmodel (``fasmodel run NAME``)."""
    return sorted(p.stem for p in RECIPES.glob("*.toml"))


def find_recipe(name: str | os.PathLike) -> Path:
    """A recipe file: ``name`` itself when it exists, else the packaged recipe of that name
    (``mock``, ``siw``, or a path ending in one, such as the former ``pipelines/mock.toml``).

    Raises
    ------
    FileNotFoundError
        Neither a file nor a packaged recipe; the message lists the packaged ones.
    """
    path = Path(name)
    if path.is_file():
        return path
    packaged = RECIPES / f"{path.stem}.toml"
    if path.suffix in ("", ".toml") and packaged.is_file():
        return packaged
    raise FileNotFoundError(f"{name}: no such recipe file, nor a packaged recipe ({', '.join(packaged_recipes())})")


def load_recipe(path: str | os.PathLike) -> dict:
    path = find_recipe(path)
    try:
        recipe = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such recipe") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from exc
    for section in ("dataset", "evaluate", "output"):
        if section not in recipe:
            raise ValueError(f"{path}: missing the [{section}] table")
    return recipe


def _make_mock(raw: Path, spec: dict, *, progress: bool) -> None:
    from fasprep.synth.mock_tree import demo_faces, make_siw_tree, mock_video_ids

    ids = mock_video_ids(train_subjects=spec.get("train_subjects", 2), test_subjects=spec.get("test_subjects", 2))
    if (raw / "mock_truth.json").is_file() and all((raw / f"{v}.mov").is_file() for v in ids):
        return
    subjects = sorted({int(v.split("/")[2]) for v in ids})
    make_siw_tree(raw, ids, faces=demo_faces(subjects), seconds=spec.get("seconds", 8.0),
                  attack_seconds=spec.get("attack_seconds"), size=tuple(spec.get("size", (640, 360))),
                  seed=spec.get("seed", 0), progress=progress)


def run_recipe(path: str | os.PathLike, *, workdir: str | os.PathLike = ".", progress: bool = True,
               echo=print) -> str:
    """Execute a recipe end to end; returns the Markdown table (also written to ``<runs>/table.md``)."""
    recipe = load_recipe(path)
    root = Path(workdir)
    ds = recipe["dataset"]
    shards = root / ds["shards"]
    raw = root / ds["raw"]
    if "mock" in ds:
        echo(f"[dataset] generating a mock {ds.get('name', 'siw')} tree in {raw}")
        _make_mock(raw, ds["mock"], progress=progress)
    opts = dict(recipe.get("build", {}))
    config = BuildConfig(**{k: opts.pop(k) for k in list(opts) if k in _BUILD_CONFIG})
    echo(f"[build] {raw} -> {shards}")
    result = build(ds.get("name", "siw"), raw, shards, config=config, progress=progress, **opts)
    echo(format_result(result))
    runs = root / recipe["output"]["runs"]
    ev = recipe["evaluate"]
    results = []
    for supervision in ev.get("supervision", ["auxiliary"]):
        for protocol in ev["protocols"]:
            run = runs / supervision / protocol
            cfg = TrainConfig(shards=str(shards), protocol=protocol, supervision=supervision,
                              **recipe.get("train", {}))
            last = run / "checkpoints" / "last.pt"
            done = last.is_file() and load_checkpoint(last)["epoch"] >= cfg.epochs
            if not done:
                echo(f"[train] {supervision} on {protocol} -> {run}")
                train(cfg, run, resume=last.is_file(), progress=progress,
                      echo=None if progress else (lambda line: echo(f"  {line}")))
            evaluation = evaluate_checkpoint(shards, protocol, last, device=cfg.device)
            write_evaluation(evaluation, run)
            echo("[eval] " + format_evaluation(evaluation))
            results.append(evaluation)
    table = protocol_table(results)
    with atomic_path(runs / "table.md") as tmp:
        tmp.write_text(table + "\n")
    echo(f"[table] {runs / 'table.md'}")
    return table


if __name__ == "__main__":  # pragma: no cover
    print(run_recipe(sys.argv[1]))
