"""catalog.py: the TensorFlow-free tables agree with the models and the
libraries they stand for, and importing the command side loads no
TensorFlow.

The commands check --model, the model flags and the settings before
TensorFlow is imported, from tables kept apart from the code they describe;
these tests fail when the two drift apart (a new built-in model or model
flag must be entered in catalog.py).
"""

import ast
import os
import subprocess
import sys

import pytest

from youtube8m import models
from youtube8m.common import checks
from youtube8m.common import utils
from youtube8m.features import extract_config
from youtube8m.features import model_files
from youtube8m.models import catalog
from youtube8m.models import losses
from youtube8m.models import model_utils
from youtube8m.models import pooling_layers
from youtube8m.prediction import inference_config
from youtube8m.serving import model_archive
from youtube8m.training import distribution
from youtube8m.training import train_config
from youtube8m.training import train_lock
from youtube8m.training import trainer

from support import workflow_helpers as wh


MODELS_DIR = os.path.join(wh.REPO, "youtube8m", "models")


def _model_sources():
  """{module name: ast} of every module in youtube8m/models but the
  catalog and base (which define the tables and the registry)."""
  sources = {}
  for name in sorted(os.listdir(MODELS_DIR)):
    if name.endswith(".py") and name not in ("catalog.py", "base.py",
                                             "__init__.py"):
      with open(os.path.join(MODELS_DIR, name), encoding="utf-8") as f:
        sources[name[:-3]] = ast.parse(f.read())
  return sources


def _called_name(call):
  func = call.func
  return func.attr if isinstance(func, ast.Attribute) else getattr(
      func, "id", None)


def test_every_registered_model_is_in_the_catalog_with_its_level():
  found = {}
  for module, tree in _model_sources().items():
    for node in ast.walk(tree):
      if isinstance(node, ast.ClassDef) and any(
          (getattr(d, "attr", None) or getattr(d, "id", None)) == "register"
          for d in node.decorator_list):
        found[node.name] = module
  assert found == {name: entry.module
                   for name, entry in catalog.BUILTIN_MODELS.items()}
  for name, entry in catalog.BUILTIN_MODELS.items():
    assert models.get_model_class(name).frame_level == entry.frame_level


def test_model_flags_are_defined_in_the_catalog_only():
  # A define_flag call in a model module would add a flag that the commands,
  # which read the catalog before TensorFlow loads, do not know.
  for module, tree in _model_sources().items():
    calls = [node.lineno for node in ast.walk(tree)
             if isinstance(node, ast.Call) and
             _called_name(node) == "define_flag"]
    assert not calls, (f"youtube8m/models/{module}.py defines model flags "
                       f"(lines {calls}): move them to catalog.py")


def test_the_repeated_constants_match_the_libraries():
  assert set(catalog.LOSS_NAMES) == set(losses.loss_names())
  assert catalog.POOLING_METHODS == model_utils.POOLING_METHODS
  assert set(catalog.ACTIVATIONS) == set(model_utils.ACTIVATIONS)
  assert catalog.BN_MOMENTUM == pooling_layers.BN_MOMENTUM
  assert set(train_config.OPTIMIZERS) == set(trainer.OPTIMIZERS)
  assert train_config.DEFAULT_COLLECTIVE_TIMEOUT_SECS == (
      distribution.DEFAULT_COLLECTIVE_TIMEOUT_SECS)
  assert train_config.DEFAULT_LOCK_STALE_SECS == train_lock.DEFAULT_STALE_SECS
  assert inference_config.DEFAULT_MAX_BYTES == model_archive.DEFAULT_MAX_BYTES
  assert model_files.DEFAULT_URLS["inception"] == extract_config.INCEPTION_URL


def test_model_name_checks_suggest_the_nearest_names():
  with pytest.raises(utils.Yt8mError, match=r"did you mean 'NeXtVLADModel'"):
    catalog.check_model("model", "NextVLADModel")
  with pytest.raises(utils.Yt8mError, match=r"did you mean 'LogisticModel'"):
    catalog.check_model("model", "logisticmodel")
  catalog.check_model("model", "my_pkg.MyModel")  # imported when used
  with pytest.raises(utils.Yt8mError, match="expected a video-level model"):
    catalog.video_level_model("video_level_classifier_model", "DbofModel")
  with pytest.raises(utils.Yt8mError, match=r"did you mean 'MoeModel'"):
    catalog.video_level_model("video_level_classifier_model", "MoEModel")
  assert checks.closest("xyz", ["LogisticModel"]) == ""


@pytest.mark.slow
def test_the_models_face_loads_keras_only_when_asked():
  code = ("import sys\n"
          "from youtube8m import models\n"
          "from youtube8m.models import model_config\n"
          "from youtube8m.training import train_config\n"
          "from youtube8m.evaluation import eval_config, score_config\n"
          "from youtube8m.prediction import inference_config\n"
          "from youtube8m.serving import export_config\n"
          "from youtube8m.prediction import ensemble_config\n"
          "from youtube8m.models import averaging_config\n"
          "from youtube8m.features import extract_config\n"
          "assert models.MODEL_FLAGS and model_config.all_defaults()\n"
          "print('keras' in sys.modules, 'tensorflow' in sys.modules)\n"
          "models.BaseModel\n"
          "print('tensorflow' in sys.modules)\n")
  result = subprocess.run([sys.executable, "-c", code], cwd=wh.REPO,
                          env=wh.script_env(), capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["False", "False", "True"]
