"""Doctest collection, and the order in which the suite's files are handed to its workers.

fasmodel's torch modules need the [train] extra; without torch their doctests are skipped.
"""

import importlib.util
import os

import pytest

# Under pytest-xdist each worker process gets its share of the cores: torch (fasmodel's
# default_threads), BLAS and the CLI subprocesses the tests start read OMP_NUM_THREADS. Two
# workers each training with two torch threads on two cores ran their trainings 2-3x slower.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    from fasprep.io import usable_cores

    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, usable_cores() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["fasmodel/model.py", "fasmodel/losses.py",
                                                                    "fasmodel/train.py", "fasmodel/evaluate.py",
                                                                    "fasmodel/cli.py", "fasmodel/pipeline.py",
                                                                    "fasmodel/export.py", "fasmodel/predict.py"]

#: The longest test files, longest first (``pytest --durations=0 -n0``, 2 cores). pytest-xdist
#: hands whole files to its workers in collection order (``--dist loadfile
#: --no-loadscope-reorder``), so starting with these keeps one long file from running alone at
#: the end of the session.
LONGEST_FIRST = ("test_fasmodel.py", "test_build.py", "test_faults.py", "test_rppg_video.py", "test_demo.py",
                 "test_rppg_video_loop.py", "test_fasmodel_mcio.py", "test_build_mcio.py", "test_synth.py",
                 "test_fasmodel_oulu.py", "test_cli.py", "test_depth.py", "test_model.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
