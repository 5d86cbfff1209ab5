"""From a resolved configuration to objects: the model and its reader.

Every workflow (train, eval, inference, export, segments, the benchmarks)
builds its model and reader here, from the dict that `model_config.resolve`
returns (the content of model_flags.json), so they cannot drift apart. The
segment reader is chosen by the caller (`segment_labels=True`), which the
front ends decide; nothing here looks at flags itself.
"""

import tensorflow as tf

from youtube8m import models
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import segment_readers
from youtube8m.models import losses


def feature_size(flags):
  """Width D of the concatenated features named by --feature_names."""
  return sum(utils.parse_feature_flags(flags["feature_names"],
                                       flags["feature_sizes"])[1])


def model_class(flags):
  """The model class of `flags`, checked against --frame_features."""
  cls = models.get_model_class(flags["model"])
  if cls.frame_level != bool(flags["frame_features"]):
    raise utils.Yt8mError(
        f"--model={flags['model']} reads "
        f"{'frame' if cls.frame_level else 'video'}-level features: "
        f"{'add' if cls.frame_level else 'drop'} --frame_features and set "
        "--feature_names/--feature_sizes to match")
  return cls


def build_model(flags, create_variables=True):
  """(model, loss_fn) for a resolved model configuration.

  Args:
    flags: {flag: value} as model_config.resolve returns it.
    create_variables: call the model once on zeros so that every variable
      exists (needed before a restore that must match every variable, an
      export, or counting parameters); the model is then also refused if
      some of its variables would not be in its checkpoints.

  Raises:
    Yt8mError: bad flags, a model too big for memory, or one whose
      checkpoints would miss variables (models.check_checkpointable).
  """
  model_class(flags)
  model_flags = {k: v for k, v in flags.items() if k in models.MODEL_FLAGS}
  try:
    model = models.build_model(flags["model"], flags["num_classes"],
                               **model_flags)
    if create_variables:
      model.create_variables(feature_size(flags))
  except (tf.errors.ResourceExhaustedError, MemoryError) as e:
    raise utils.Yt8mError(
        f"model {flags['model']} with --num_classes={flags['num_classes']} "
        f"and --feature_sizes={flags['feature_sizes']} does not fit in "
        "memory (its sizes come from the flags or model_flags.json; are "
        "they right?)") from e
  if create_variables:
    models.check_checkpointable(model)
  return model, losses.get_loss(flags["label_loss"])


def make_reader(flags, segment_labels=False, all_segments=False, raw=True,
                skip_nonfinite=False):
  """The reader of the records the model was trained on.

  Args:
    flags: resolved model configuration.
    segment_labels: read the rated 5-frame segments of 2019 records
      (YT8MSegmentReader) instead of whole videos.
    all_segments: with segment_labels, cut every video into segments
      (inference on unrated records).
    raw: uint8 frames for the model to dequantize (the fast form).
    skip_nonfinite: drop videos whose float features hold NaN or inf (and
      count them in the batch's `num_skipped`) instead of failing on them.
  """
  args = (flags["num_classes"], flags["feature_names"], flags["feature_sizes"])
  if segment_labels:
    if not flags["frame_features"]:
      raise utils.Yt8mError(
          "--segment_labels reads frame-level records (the 2019 segment "
          "data): use a frame-level model and --frame_features")
    return segment_readers.YT8MSegmentReader(*args, raw=raw,
                                             all_segments=all_segments)
  # Padding to each batch's longest video, where the model allows it.
  pad_to_longest = bool(flags["frame_features"]) and getattr(
      models.get_model_class(flags["model"]), "padding_invariant", False)
  return readers.get_reader(flags["frame_features"], *args, raw=raw,
                            skip_nonfinite=skip_nonfinite,
                            pad_to_longest=pad_to_longest)
