"""The package: every module imports, and the seed's module names exist."""

import importlib
import os
import pkgutil
import subprocess
import sys

from absl import flags

import youtube8m

# Module names kept from the starter code, so users' model code ports.
# They live in the folders of their concern.
SEED_MODULES = ("data.readers", "models", "models.video_level_models",
                "models.frame_level_models", "models.model_utils",
                "models.losses", "evaluation.eval_util",
                "evaluation.average_precision_calculator",
                "evaluation.mean_average_precision_calculator",
                "common.utils")


def test_every_module_imports():
  names = [info.name for info in pkgutil.walk_packages(
      youtube8m.__path__, prefix="youtube8m.")]
  assert {f"youtube8m.{n}" for n in SEED_MODULES} <= set(names)
  assert "youtube8m.benchmarks.reader" in names
  front_ends = []
  for name in names:
    try:
      module = importlib.import_module(name)
    except flags.DuplicateFlagError:
      # A front-end (train, eval, a benchmark...) defines absl flags on
      # import, and two front-ends' flags cannot share one process.
      front_ends.append(name)
      continue
    assert module.__doc__, f"{name} has no module docstring"
  assert "youtube8m.train" in front_ends or "youtube8m.eval" in front_ends
  children = [subprocess.Popen(
      [sys.executable, "-c", f"import {name}; assert {name}.__doc__"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for name in front_ends]
  for name, child in zip(front_ends, children):
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, f"{name}: {err[-2000:]}"


def test_every_package_folder_has_an_init():
  root = os.path.dirname(youtube8m.__file__)
  for folder, _, files in os.walk(root):
    if any(f.endswith(".py") for f in files):
      assert "__init__.py" in files, folder
