"""Doctest collection: fasmodel's torch modules need the [train] extra; without torch they are skipped."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["fasmodel/model.py", "fasmodel/losses.py",
                                                                    "fasmodel/train.py", "fasmodel/evaluate.py",
                                                                    "fasmodel/cli.py", "fasmodel/pipeline.py",
                                                                    "fasmodel/export.py", "fasmodel/predict.py"]
