"""A model's size: parameters in total and per top-level layer, and bytes.

train.py logs it at start and writes `train_dir/model_size.json` next to
model_flags.json (chief only; whole or not at all):

  {"parameters": trainable weights (what the papers count),
   "non_trainable": other weights (batch-norm moving statistics),
   "bytes_float32": all weights at 4 bytes (the checkpoint's model part and
                    a SavedModel export's variables),
   "bytes_float16": all weights at 2 bytes (export_model.py --export_float16;
                    the 2018 challenge allowed 1 GB),
   "layers": {top-level layer name: its trainable parameters}}

`python -m youtube8m.model_size --model=NeXtVLADModel ...` prints it for
any model flags without training (docs/models.md has the published
settings' figures).
"""

import json
import os

from absl import logging
import numpy as np

from youtube8m.common import outputs

FILENAME = "model_size.json"


def _count(weights):
  return int(sum(int(np.prod(w.shape)) for w in weights))


def size(model):
  """The dict described above, for a model whose variables exist."""
  trainable = _count(model.trainable_weights)
  non_trainable = _count(model.non_trainable_weights)
  return {"parameters": trainable, "non_trainable": non_trainable,
          "bytes_float32": 4 * (trainable + non_trainable),
          "bytes_float16": 2 * (trainable + non_trainable),
          "layers": {layer.name: _count(layer.trainable_weights)
                     for layer in model.layers}}


def describe(sizes):
  """One log line: total and the largest layers."""
  layers = sorted(sizes["layers"].items(), key=lambda kv: -kv[1])
  parts = ", ".join(f"{name} {count:,}" for name, count in layers)
  return (f"{sizes['parameters']:,} parameters ({sizes['non_trainable']:,} "
          f"non-trainable values; {sizes['bytes_float32'] / 2**20:.1f} MiB "
          f"in float32, {sizes['bytes_float16'] / 2**20:.1f} MiB in "
          f"float16): {parts}")


def report(model, train_dir, chief=True):
  """Logs the model's size; the chief writes train_dir/model_size.json."""
  sizes = size(model)
  logging.info("Model size: %s", describe(sizes))
  if chief:
    outputs.write_file(os.path.join(train_dir, FILENAME), lambda f: json.dump(
        sizes, f, indent=2, sort_keys=True))
  return sizes
