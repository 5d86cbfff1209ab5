"""The models: `from youtube8m import models`.

This package face is what users import: `models.BaseModel`,
`models.register`, `models.define_flag`, `models.get_model_class`, ...
Importing it loads no TensorFlow: the flag table (`define_flag`,
`MODEL_FLAGS`, `ModelFlag`, the checks) comes from `catalog`, and the names
that need Keras (`BaseModel`, `register`, `get_model_class`,
`build_model`, ...) are loaded from `base` on first use, so that commands
answer --help and flag errors before TensorFlow starts. A built-in model's
module is imported when its class is first asked for; `base` never imports
a subclass, so the registry has no import circle.
"""

import importlib

# pylint: disable=unused-import
from youtube8m.common.checks import bad_flag
from youtube8m.common.checks import boolean
from youtube8m.common.checks import choice
from youtube8m.common.checks import fraction
from youtube8m.common.checks import non_negative
from youtube8m.common.checks import positive
from youtube8m.models import catalog
from youtube8m.models.catalog import check_model_flags
from youtube8m.models.catalog import define_flag
from youtube8m.models.catalog import MAX_CLASSES
from youtube8m.models.catalog import MAX_WIDTH
from youtube8m.models.catalog import MODEL_FLAGS
from youtube8m.models.catalog import model_flag_defaults
from youtube8m.models.catalog import ModelFlag
from youtube8m.models.catalog import num_classes_check
from youtube8m.models.catalog import positive_int
from youtube8m.models.catalog import video_level_model

# Loaded from `base` (Keras) when first used.
_FROM_BASE = ("BaseModel", "build_model", "check_checkpointable",
              "get_model_class", "import_model_class", "is_known_model",
              "register", "registered_names", "untracked_variables")
_MODEL_MODULES = frozenset(m.module for m in catalog.BUILTIN_MODELS.values())


def __getattr__(name):
  if name in _FROM_BASE:
    return getattr(importlib.import_module("youtube8m.models.base"), name)
  if name in _MODEL_MODULES:
    return importlib.import_module(f"youtube8m.models.{name}")
  raise AttributeError(f"module 'youtube8m.models' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_FROM_BASE) | set(_MODEL_MODULES))
