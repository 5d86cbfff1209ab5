"""The scorers an export holds: a model (stored in float32, float16 or
int8) or an earlier export, each giving float32 predictions [B, C].

A SavedModel made by export.py holds one member, or several whose
predictions it averages with weights (`export_model.py --ensemble`).

`ModelMember` wraps a Keras model (variables created, computing in
float32). Stored in float32 it is the model itself. With `float16` or
`quantize="int8"` only compressed copies of its variables are saved: each
call turns them back into float32 tensors (a cast, or int8 values times
their scales, quantization.py) and runs the model on them with
`keras.Model.stateless_call`, so inputs, outputs and arithmetic stay
float32.

`SavedModelMember` wraps an earlier export (its `predict_features`
signature): an ensemble may hold exports as well as train_dirs.

Every member's `size()` is the model_size.json entry of what it stores.
"""

import json
import os

import numpy as np
import tensorflow as tf

from youtube8m.common import literal_paths
from youtube8m.data import raw_frames
from youtube8m.models import size as model_size
from youtube8m.serving import export_config
from youtube8m.serving import quantization

INT8 = export_config.INT8


class _Untracked:
  """Holds a model out of the SavedModel (only its compressed copies go)."""

  def __init__(self, model):
    self.model = model


def _bytes(variables):
  return int(sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size
                 for v in variables))


def _copy(variable, float_dtype):
  """A non-trainable tf.Variable of `variable`'s value, floats cast."""
  value = tf.convert_to_tensor(variable)
  if value.dtype.is_floating:
    value = tf.cast(value, float_dtype)
  return tf.Variable(value, trainable=False)


class ModelMember(tf.Module):
  """A Keras model as an export stores it.

  Args:
    model: a youtube8m BaseModel computing in float32 (variables created).
    float16: store the float variables in float16.
    quantize: "" or "int8": store the large kernels as int8 and scales
      (quantization.quantizable); the rest per `float16`.
    per_channel: int8 scales per output channel, else per tensor.
  """

  def __init__(self, model, float16=False, quantize="", per_channel=True):
    super().__init__()
    if quantize not in ("", INT8):
      raise ValueError(f"quantize must be '' or {INT8!r}, not {quantize!r}")
    self._sizes = model_size.size(model)
    if not float16 and not quantize:
      self.model = model
      self._compressed = None
      return
    self._compressed = _Untracked(model)
    float_dtype = tf.float16 if float16 else tf.float32
    self.weights = []
    # Index (as a string, for tracking) -> scales of the int8 weights.
    self.scales = {}
    for n, variable in enumerate(model.trainable_variables):
      if quantize and quantization.quantizable(variable):
        q, scales = quantization.quantize(variable.numpy(), per_channel)
        self.weights.append(tf.Variable(q, trainable=False))
        self.scales[str(n)] = tf.Variable(scales, trainable=False)
      else:
        self.weights.append(_copy(variable, float_dtype))
    self.states = [_copy(v, float_dtype)
                   for v in model.non_trainable_variables]

  def _float32(self):
    """(trainable, non-trainable) float32 values of the stored copies."""
    def restore(n, variable):
      if str(n) in self.scales:
        return quantization.dequantize(variable, self.scales[str(n)])
      if variable.dtype == tf.float16:
        return tf.cast(variable, tf.float32)
      return tf.convert_to_tensor(variable)
    return ([restore(n, v) for n, v in enumerate(self.weights)],
            [tf.cast(v, tf.float32) if v.dtype == tf.float16 else
             tf.convert_to_tensor(v) for v in self.states])

  def __call__(self, inputs):
    """inputs {video_matrix, num_frames} (the reader's forms) -> [B, C]."""
    if self._compressed is None:
      outputs = self.model(inputs, training=False)
    else:
      weights, states = self._float32()
      outputs, _ = self._compressed.model.stateless_call(
          weights, states, inputs, training=False)
    return tf.cast(outputs["predictions"], tf.float32)

  def size(self):
    """model_size.json's entries, plus `bytes_stored`: the bytes saved."""
    stored = (self.model.variables if self._compressed is None else
              self.weights + list(self.scales.values()) + self.states)
    return dict(self._sizes, bytes_stored=_bytes(stored))


class SavedModelMember(tf.Module):
  """An earlier export, called through its `predict_features` signature."""

  def __init__(self, export_dir):
    super().__init__()
    self.source = export_dir
    # Read through a glob-free alias: the loader globs for its variables.
    with literal_paths.readable(export_dir, prefix=False) as readable:
      self.loaded = tf.saved_model.load(readable)
    self._sizes = _saved_sizes(export_dir, self.loaded)

  def __call__(self, inputs):
    matrix = inputs["video_matrix"]
    num_frames = tf.cast(inputs["num_frames"], tf.int32)
    if isinstance(matrix, (tuple, list)) or matrix.shape.rank == 3:
      # predict_features takes float frames, zero past num_frames.
      matrix = raw_frames.frames_to_float(matrix, num_frames)
    return self.loaded.predict_features(
        tf.cast(matrix, tf.float32), num_frames)["predictions"]

  def size(self):
    return dict(self._sizes)


def _saved_sizes(export_dir, loaded):
  """An export's model_size.json, or counts of its variables if it has none
  (exports made before model_size.json was written into them)."""
  path = os.path.join(export_dir, model_size.FILENAME)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      return json.load(f)
  count = int(sum(int(np.prod(v.shape)) for v in loaded.variables))
  return {"parameters": count, "non_trainable": 0,
          "bytes_float32": 4 * count, "bytes_float16": 2 * count,
          "bytes_stored": _bytes(loaded.variables), "layers": {}}


def is_saved_model(path):
  """Whether `path` is a SavedModel directory (holds saved_model.pb)."""
  return bool(path) and tf.io.gfile.exists(os.path.join(path,
                                                        "saved_model.pb"))
