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
    max_clips = 10                     # clips scored per video (fasmodel eval --max-clips)

    [output]
    runs = "runs/siw"

A cross-dataset recipe (``mcio``, ``mcio-mock``) has one table per domain instead of
``[dataset]``, and a ``[cross]`` table: every dataset is built with the same ``[build]``
options, ``fasprep protocols cross`` combines the builds, and every protocol of
``[evaluate]`` trains on the sources' builds and tests on the target's::

    [datasets.M]                       # as [dataset]: name, raw (or a [datasets.M.mock] table), shards
    name = "msu-mfsd"
    raw = "/data/MSU-MFSD"
    shards = "runs/mcio/msu-mfsd"
    ...                                # [datasets.C], [datasets.I], [datasets.O]

    [cross]
    out = "runs/mcio/cross"            # the protocols over the builds

    [evaluate]
    protocols = ["mcio-to-m", "mcio-to-c", "mcio-to-i", "mcio-to-o"]

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
from fasprep.datasets.cross import format_cross, write_cross
from fasprep.io import DEFAULT_PRESET, atomic_path

from .evaluate import evaluate_checkpoint, format_evaluation, write_evaluation
from .report import tables
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
    needed = ("datasets", "cross", "evaluate", "output") if "datasets" in recipe else ("dataset", "evaluate", "output")
    for section in needed:
        if section not in recipe:
            raise ValueError(f"{path}: missing the [{section}] table")
    return recipe


def _make_mock(raw: Path, name: str, spec: dict, *, progress: bool) -> None:
    """A mock tree of dataset ``name`` in ``raw`` (kept when it is already there).

    SiW: ``train_subjects`` and ``test_subjects`` subjects (:func:`mock_video_ids`). Any other
    adapter: the codes of ``videos`` (a list of tables, as ``make_tree`` takes them), else its
    demo tree (:func:`demo_videos`). ``seconds``, ``attack_seconds``, ``size``, ``seed`` and
    ``preset`` as :func:`fasprep.synth.mock_tree.make_tree`."""
    from fasprep.datasets import get_dataset
    from fasprep.synth import mock_tree
    from fasprep.synth.mock_tree import demo_faces, mock_video_ids

    adapter = get_dataset(name)
    if name == "siw" and "videos" not in spec:
        ids = mock_video_ids(train_subjects=spec.get("train_subjects", 2), test_subjects=spec.get("test_subjects", 2))
        codes = [mock_tree._siw_codes(v) for v in ids]
    else:
        codes = [dict(c) for c in spec.get("videos", None) or mock_tree.demo_videos(name)]
    names = [adapter.video_name(c) for c in codes]
    if (raw / "mock_truth.json").is_file() and all((raw / n).is_file() for n in names):
        return
    subjects = sorted({c[adapter.subject_code] for c in codes})  # one adapter's subjects: all int or all str
    faces = dict(zip(subjects, demo_faces(range(1, len(subjects) + 1)).values()))
    rotation = mock_tree.oulu_rotation if name == "oulu-npu" else 0
    mock_tree.make_tree(adapter, raw, codes, faces=faces, seconds=spec.get("seconds", 8.0),
                        attack_seconds=spec.get("attack_seconds"),
                        size=tuple(spec.get("size", mock_tree.MOCK_SIZE.get(name, (640, 360)))),
                        rotation_deg=rotation, seed=spec.get("seed", 0), preset=spec.get("preset", DEFAULT_PRESET),
                        progress=progress)


def _build_dataset(ds: dict, recipe: dict, root: Path, *, progress: bool, echo) -> Path:
    """Make the dataset's mock tree when it asks for one, build it; returns the build folder."""
    name = ds.get("name", "siw")
    shards = root / ds["shards"]
    raw = root / ds["raw"]
    if "mock" in ds:
        echo(f"[dataset] generating a mock {name} tree in {raw}")
        _make_mock(raw, name, ds["mock"], progress=progress)
    opts = dict(recipe.get("build", {}))
    config = BuildConfig(**{k: opts.pop(k) for k in list(opts) if k in _BUILD_CONFIG})
    echo(f"[build] {name}: {raw} -> {shards}")
    result = build(name, raw, shards, config=config, progress=progress, **opts)
    echo(format_result(result))
    return shards


def run_recipe(path: str | os.PathLike, *, workdir: str | os.PathLike = ".", progress: bool = True,
               echo=print) -> str:
    """Execute a recipe end to end; returns the Markdown table (also written to ``<runs>/table.md``)."""
    recipe = load_recipe(path)
    root = Path(workdir)
    if "datasets" in recipe:
        builds = [_build_dataset(ds, recipe, root, progress=progress, echo=echo)
                  for ds in recipe["datasets"].values()]
        shards = root / recipe["cross"]["out"]
        echo(f"[cross] {shards}")
        echo(format_cross(write_cross(builds, shards)))
    else:
        shards = _build_dataset(recipe["dataset"], recipe, root, progress=progress, echo=echo)
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
            evaluation = evaluate_checkpoint(shards, protocol, last, device=cfg.device,
                                             max_clips=ev.get("max_clips", 10))
            write_evaluation(evaluation, run)
            echo("[eval] " + format_evaluation(evaluation))
            results.append(evaluation)
    table = tables(results)
    with atomic_path(runs / "table.md") as tmp:
        tmp.write_text(table + "\n")
    echo(f"[table] {runs / 'table.md'}")
    return table


if __name__ == "__main__":  # pragma: no cover
    print(run_recipe(sys.argv[1]))
