"""The package: every module imports, and the seed's module names exist."""

import ast
import importlib
import os
import pkgutil
import subprocess
import sys

from absl import flags
import pytest

import youtube8m

# Module names kept from the starter code, so users' model code ports.
# They live in the folders of their concern.
SEED_MODULES = ("data.readers", "models", "models.video_level_models",
                "models.frame_level_models", "models.model_utils",
                "models.losses", "evaluation.eval_util",
                "evaluation.average_precision_calculator",
                "evaluation.mean_average_precision_calculator",
                "common.utils")


@pytest.mark.slow
def test_every_module_imports():
  names = [info.name for info in pkgutil.walk_packages(
      youtube8m.__path__, prefix="youtube8m.")]
  assert {f"youtube8m.{n}" for n in SEED_MODULES} <= set(names)
  assert "youtube8m.benchmarks.reader" in names
  front_ends, defining = [], []
  flags_before = set(flags.FLAGS)
  try:
    for name in names:
      before = set(flags.FLAGS)
      try:
        module = importlib.import_module(name)
      except flags.DuplicateFlagError:
        # A front-end (train, eval, a benchmark...) defines absl flags on
        # import, and two front-ends' flags cannot share one process.
        front_ends.append(name)
        continue
      if set(flags.FLAGS) != before:
        defining.append(name)
      assert module.__doc__, f"{name} has no module docstring"
  finally:
    # Leave absl's FLAGS and sys.modules as they were, so later tests can
    # import any front end (its flags would be defined twice otherwise).
    for flag in set(flags.FLAGS) - flags_before:
      delattr(flags.FLAGS, flag)
    for name in defining:
      sys.modules.pop(name, None)
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


# The folders by level, lowest first; a module may import its own folder
# and lower levels only. Commands (modules directly in youtube8m/) sit above.
LEVELS = (("common",), ("data", "vertex"), ("models",),
          ("evaluation", "serving", "features"), ("training", "prediction"),
          ("api", "benchmarks"))
LEVEL = {folder: n for n, folders in enumerate(LEVELS) for folder in folders}


def _imports():
  """{module: set of youtube8m modules it imports} over the package."""
  root = os.path.dirname(youtube8m.__file__)
  found = {}
  for folder, _, files in os.walk(root):
    for name in files:
      if not name.endswith(".py"):
        continue
      path = os.path.join(folder, name)
      module = os.path.relpath(path, os.path.dirname(root))[:-3].replace(
          os.sep, ".").removesuffix(".__init__")
      targets = set()
      for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.ImportFrom) and node.module and (
            node.module.split(".")[0] == "youtube8m"):
          targets |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
          targets |= {a.name for a in node.names
                      if a.name.split(".")[0] == "youtube8m"}
      found[module] = targets
  # `from youtube8m.data import readers` names a module; `from
  # youtube8m.models.base import BaseModel` names its module's attribute.
  return {m: {t if t in found else t.rpartition(".")[0] for t in targets}
          - {m} for m, targets in found.items()}


def _folder(module):
  parts = module.split(".")
  return parts[1] if len(parts) > 2 or (len(parts) == 2 and
                                         parts[1] in LEVEL) else None


def test_every_folder_has_a_level_and_every_top_module_is_a_command():
  root = os.path.dirname(youtube8m.__file__)
  folders = {f for f in os.listdir(root)
             if os.path.isfile(os.path.join(root, f, "__init__.py"))}
  assert folders - {"data"} <= set(LEVEL) and set(LEVEL) <= folders
  for name in os.listdir(root):
    if name.endswith(".py") and name != "__init__.py":
      with open(os.path.join(root, name)) as f:
        source = f.read()
      assert 'if __name__ == "__main__":' in source, (
          f"youtube8m/{name} sits at the top but is not a command")


def test_imports_run_down_the_levels_without_a_circle():
  imports = _imports()
  wrong = []
  for module, targets in imports.items():
    source = _folder(module)
    if source is None:  # a command, or the package itself
      continue
    for target in targets:
      folder = _folder(target)
      if folder is None:
        wrong.append(f"{module} imports the command {target}")
      elif folder != source and LEVEL[folder] >= LEVEL[source]:
        wrong.append(f"{module} ({source}) imports {target} ({folder})")
  assert not wrong, "\n".join(wrong)
  # No circle: a depth-first walk never meets a module on its own path.
  state = {}

  def visit(module, path):
    state[module] = "open"
    for target in sorted(imports.get(module, ())):
      assert state.get(target) != "open", " -> ".join(path + [target])
      if target not in state:
        visit(target, path + [target])
    state[module] = "done"

  for module in sorted(imports):
    if module not in state:
      visit(module, [module])
