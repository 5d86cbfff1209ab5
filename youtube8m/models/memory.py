"""How many frame-level videos a batch may hold within a memory budget.

A frame-level video is up to 300 x 1,152 bytes, and a model's activations
are many times its dequantized frames (NeXtVLAD expands every frame to
twice its width): at the starter code's --batch_size=1024, eval.py of a
NeXtVLAD peaked at 9.5 GB here. Eval and inference therefore size their
frame-level batches from an estimate:

  bytes per video = ACTIVE_SHARE x the sum of the sizes of every tensor the
                    model's forward pass makes for one video of max_frames

The sum counts each intermediate once, as if none were freed or fused; the
share that is alive at the peak was measured with /usr/bin/time -v on
eval.py (batch 128 to 1024, 300-frame videos, this project's CPU machine):
0.20 for FrameLevelLogisticModel (sum 11.5 MB a video) and 0.23 for
NeXtVLADModel (34.5 MB), input pipeline included. ACTIVE_SHARE rounds that
up. The estimate depends only on the model and the flags, so the batch size
it picks is the same on every run (eval stays deterministic). TensorFlow
itself, the model's weights and the compiled code come on top (about 1 GB
for these models on a CPU).
"""

import numpy as np
import tensorflow as tf

from youtube8m.common import utils

ACTIVE_SHARE = 0.25
DEFAULT_BUDGET_GB = 2.0  # --memory_budget_gb of eval and inference
# Tensors that hold weights or constants, not per-video activations.
_NOT_ACTIVATIONS = ("ReadVariableOp", "Const", "Placeholder", "VarHandleOp",
                    "NoOp", "Identity")


def activation_bytes(model, feature_sizes, max_frames):
  """Sum of the sizes of the forward pass's tensors for one video (bytes).

  Args:
    model: a built frame-level BaseModel.
    feature_sizes: the features' widths (the reader's uint8 inputs).
    max_frames: frames per video (the padded length).
  """
  spec = {"video_matrix": tuple(tf.TensorSpec([1, max_frames, size], tf.uint8)
                                for size in feature_sizes),
          "num_frames": tf.TensorSpec([1], tf.int32)}
  forward = tf.function(lambda batch: model(batch, training=False))
  graph = forward.get_concrete_function(spec).graph
  total = 0
  for op in graph.get_operations():
    if op.type in _NOT_ACTIVATIONS:
      continue
    for output in op.outputs:
      if output.shape.is_fully_defined() and output.dtype.size:
        total += int(np.prod(output.shape.as_list())) * output.dtype.size
  return total


def bytes_per_video(model, feature_sizes, max_frames):
  """The estimated memory one video of a batch costs (module docstring)."""
  return ACTIVE_SHARE * activation_bytes(model, feature_sizes, max_frames)


def fit_batch_size(batch_size, default, per_video, budget_gb):
  """(batch size, message or None): the batch eval/inference use.

  Args:
    batch_size: --batch_size as given, or None (not given).
    default: the batch size when it fits (the seed's 1024 or 512).
    per_video: bytes_per_video of the model.
    budget_gb: --memory_budget_gb.

  Returns:
    Not given: the default, or the largest power of 2 below it that fits
    the budget, with a message saying so. Given: that batch size, with a
    warning when it does not fit.
  """
  budget = budget_gb * 1e9
  fits = max(1, int(budget // max(per_video, 1)))
  estimate = lambda size: f"{size * per_video / 1e9:.1f} GB"  # noqa: E731
  if batch_size is not None:
    if batch_size <= fits:
      return batch_size, None
    return batch_size, (
        f"--batch_size={batch_size} of frame-level videos needs about "
        f"{estimate(batch_size)} of memory for its data and activations, "
        f"more than --memory_budget_gb={budget_gb:g}; about {fits} videos "
        "fit (lower --batch_size, or raise --memory_budget_gb if the "
        "machine has the memory)")
  if default <= fits:
    return default, None
  chosen = 1 << (fits.bit_length() - 1)  # a power of 2, at most `fits`
  return chosen, (
      f"frame-level batches of {chosen} videos (about {estimate(chosen)} "
      f"for their data and activations) to stay within "
      f"--memory_budget_gb={budget_gb:g}; {default} would need "
      f"{estimate(default)}. Set --batch_size to choose")


def choose_batch_size(batch_size, default, model, flags, budget_gb,
                      max_frames=300):
  """fit_batch_size for frame-level models; video-level batches are small
  (the default, or --batch_size as given). Returns (batch size, message)."""
  if not flags["frame_features"] or model is None:
    return (default if batch_size is None else batch_size), None
  _, sizes = utils.parse_feature_flags(flags["feature_names"],
                                       flags["feature_sizes"])
  return fit_batch_size(batch_size, default,
                        bytes_per_video(model, sizes, max_frames), budget_gb)
