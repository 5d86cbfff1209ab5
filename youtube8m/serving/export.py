"""SavedModel export with a serving signature over serialized records.

The exported model holds every variable (batch-norm moving statistics
included; the original lost them) and two signatures:
  serving_default(serialized: string [B]) ->
      video_id string [B], class_indexes int32 [B, top_k],
      predictions float32 [B, top_k] (scores, best first)
  predict_features(video_matrix: float32 [B, (T,) D],
                   num_frames: int32 [B]) -> predictions float32 [B, C]
Records are parsed by the same reader as training, so a SavedModel serves
Vertex AI batch prediction and inference.py without the Python package.
Beside the graph, the export holds model_flags.json and model_size.json
(models/size.py's entries for what it stores, plus `bytes_stored`).

One export holds one model or an ensemble (`--ensemble`, ensemble.py): the
weighted mean of several models' or exports' predictions, in one graph.

Precision: the export always computes in float32. A model trained under
--mixed_precision (float32 variables, float16/bfloat16 compute) is exported
from a float32 copy of it, as export_model.py rebuilds it from the
checkpoint. How the weights are stored (members.py): float32; float16 with
--export_float16 (half the size on disk; the 2018 challenge limited models
to 1 GB); the large kernels in int8 with --quantize=int8 (quantization.py,
about a quarter). A compressed export turns its weights back into float32
in every call and runs the model on those values, so both signatures keep
their float32 inputs and outputs.
"""

import json
import os

from absl import logging
import keras
import tensorflow as tf

from youtube8m.common import literal_paths
from youtube8m.common import outputs
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.models import size as model_size
from youtube8m.serving import ensemble
from youtube8m.serving import export_config
from youtube8m.serving import members

SERVING_INPUT_NAME = "<serving request>"


def float32_copy(model, flags):
  """`model` itself if it computes in float32, else a float32 copy of it.

  A model built under a mixed precision policy has float32 variables; the
  copy is rebuilt from `flags` and takes their values.
  """
  if model.dtype_policy.compute_dtype == "float32":
    return model
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy("float32")
  try:
    copy, _ = builders.build_model(flags)
  finally:
    keras.config.set_dtype_policy(previous)
  _copy_values(copy.variables, model.variables)
  return copy


def _copy_values(targets, sources):
  if [tuple(v.shape) for v in targets] != [tuple(v.shape) for v in sources]:
    raise ValueError("the rebuilt model's variables differ from the model's")
  for target, source in zip(targets, sources):
    target.assign(tf.cast(source, target.dtype))


class ServingModule(tf.Module):
  """Members (members.py) behind the reader and the serving signatures.

  The predictions are the weighted sum of the members' predictions
  (weights summing to 1: a weighted mean); one member is served as is.
  """

  def __init__(self, scorers, flags, top_k=20, weights=None):
    super().__init__()
    self.members = list(scorers)
    self._weights = [float(w) for w in weights] if weights else None
    if self._weights is not None and len(self._weights) != len(self.members):
      raise ValueError(f"{len(self._weights)} weights for "
                       f"{len(self.members)} members")
    self._top_k = min(int(top_k), int(flags["num_classes"]))
    self._reader = readers.get_reader(
        flags["frame_features"], flags["num_classes"], flags["feature_names"],
        flags["feature_sizes"], raw=True)
    self._reader.set_files([SERVING_INPUT_NAME])
    size = sum(self._reader.feature_sizes)
    shape = [None, None, size] if flags["frame_features"] else [None, size]
    self.serve = tf.function(self._serve, input_signature=[
        tf.TensorSpec([None], tf.string, name="serialized")])
    self.predict_features = tf.function(self._predict, input_signature=[
        tf.TensorSpec(shape, tf.float32, name="video_matrix"),
        tf.TensorSpec([None], tf.int32, name="num_frames")])

  def _predictions(self, inputs):
    """float32 [B, C] probabilities of a batch."""
    if len(self.members) == 1 and self._weights is None:
      return self.members[0](inputs)
    weights = self._weights or [1.0 / len(self.members)] * len(self.members)
    return tf.add_n([w * member(inputs)
                     for w, member in zip(weights, self.members)])

  def _serve(self, serialized):
    batch = self._reader.parse_batch(
        serialized, tf.zeros(tf.shape(serialized), tf.int32))
    predictions = self._predictions(
        {"video_matrix": batch["video_matrix"],
         "num_frames": batch["num_frames"]})
    scores, indexes = tf.math.top_k(predictions, k=self._top_k)
    return {"video_id": batch["video_ids"], "class_indexes": indexes,
            "predictions": scores}

  def _predict(self, video_matrix, num_frames):
    return {"predictions": self._predictions(
        {"video_matrix": video_matrix, "num_frames": num_frames})}

  def size(self, sources=None):
    """model_size.json of the export: sums over the members, each listed
    (with `sources`, names of where they came from) when there are several.
    """
    parts = [member.size() for member in self.members]
    keys = ("parameters", "non_trainable", "bytes_float32", "bytes_float16",
            "bytes_stored")
    total = {k: int(sum(p[k] for p in parts)) for k in keys}
    if len(parts) == 1:
      total["layers"] = dict(parts[0]["layers"])
      return total
    total["layers"] = {f"member{n}/{name}": count for n, p in enumerate(parts)
                       for name, count in p["layers"].items()}
    weights = self._weights or [1.0 / len(parts)] * len(parts)
    total["members"] = [
        dict({k: p[k] for k in keys}, weight=w,
             source=(sources[n] if sources else f"member{n}"))
        for n, (p, w) in enumerate(zip(parts, weights))]
    return total


def write_export(module, flags, export_dir, sources=None):
  """Saves a ServingModule with model_flags.json and model_size.json.

  It is written to a sibling temporary directory and renamed into place
  (outputs.write_dir), so a reader never sees half an export.
  """
  sizes = module.size(sources)

  def write(tmp):
    tf.saved_model.save(module, tmp, signatures={
        "serving_default": module.serve.get_concrete_function(),
        "predict_features": module.predict_features.get_concrete_function()})
    model_config.save(tmp, flags)
    outputs.write_file(os.path.join(tmp, model_size.FILENAME),
                       lambda f: json.dump(sizes, f, indent=2,
                                           sort_keys=True))

  outputs.write_dir(export_dir, write)
  logging.info("SavedModel written to %s: %s", export_dir,
               model_size.describe(sizes))
  return export_dir


def export_saved_model(model, flags, export_dir, top_k=20, float16=False,
                       quantize="", per_channel=True):
  """Writes the SavedModel of one model; whole or not at all.

  The export computes in float32 (`float32_copy`); `float16` and
  `quantize` choose how its weights are stored (members.ModelMember).
  """
  member = members.ModelMember(float32_copy(model, flags), float16, quantize,
                               per_channel)
  return write_export(ServingModule([member], flags, top_k), flags,
                      export_dir)


is_saved_model = members.is_saved_model


def load_serving_fn(export_dir):
  """The `serving_default` function of an exported model."""
  if not is_saved_model(export_dir):
    raise utils.Yt8mError(f"{export_dir} is not a SavedModel "
                          "(no saved_model.pb)")
  # Read through a glob-free alias: the loader globs for its variables.
  with literal_paths.readable(export_dir, prefix=False) as readable:
    loaded = tf.saved_model.load(readable)
  return loaded.signatures["serving_default"], loaded


# export_model.py's settings, in export_config.py (no TensorFlow there: the
# command checks them before TensorFlow loads).
ExportConfig = export_config.ExportConfig


def export_checkpoint(config):
  """Exports a checkpoint of train_dir (or --ensemble); returns the path."""
  settings.validate(config)
  if config.ensemble:
    return _export_ensemble(config)
  if config.ensemble_weights:
    raise utils.Yt8mError("--ensemble_weights needs --ensemble")
  model, flags, path = checkpoints.load_trained_model(
      config.train_dir, config.model_flags, config.explicit_flags,
      config.checkpoint)
  output_dir = config.output_dir or os.path.join(
      config.train_dir, "export", f"step_{checkpoints.checkpoint_step(path)}")
  export_saved_model(model, flags, output_dir, config.top_k,
                     float16=config.export_float16, quantize=config.quantize,
                     per_channel=config.quantize_per_channel)
  return output_dir


def _export_ensemble(config):
  """export_checkpoint for --ensemble: the members, weighted, in one graph."""
  if not config.output_dir:
    raise utils.Yt8mError("--ensemble needs --output_dir")
  if config.checkpoint or config.explicit_flags:
    given = ["--checkpoint"] if config.checkpoint else []
    given += [f"--{name}" for name in sorted(config.explicit_flags)]
    raise utils.Yt8mError(
        f"{', '.join(given)}: not with --ensemble (each member is rebuilt "
        "from its own model_flags.json and latest checkpoint)")
  sources = ensemble.member_dirs(config.ensemble)
  weights = ensemble.parse_weights(config.ensemble_weights, len(sources))
  scorers, flags = ensemble.load_members(
      sources, lambda model, model_flags: members.ModelMember(
          float32_copy(model, model_flags), config.export_float16,
          config.quantize, config.quantize_per_channel))
  module = ServingModule(scorers, flags, config.top_k, weights)
  return write_export(module, flags, config.output_dir, sources)
