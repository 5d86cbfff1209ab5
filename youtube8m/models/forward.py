"""The forward pass of evaluation and inference, optionally compiled.

Training compiles its single-replica step with XLA (trainer.Trainer) unless
the model sets `jit_compile = False` (LstmModel). eval.py and inference.py
do the same with `--xla` (`compile_forward(..., xla=True)`), and get the
fused dequantization, normalization and pooling that training gets. XLA
takes no string tensors: `numeric(batch)` drops the video ids before the
call.

Both forms are deterministic: the same checkpoint, data and --batch_size
give the same predictions, bit for bit, run after run. They are not
bit-identical to each other (XLA fuses and orders the float operations
differently; about 1e-7 relative, enough to move a CSV score's 6th digit),
so the uncompiled form, the one earlier versions ran, is the default: an
old train_dir keeps giving byte-identical files.
"""

import tensorflow as tf


def numeric(batch):
  """The batch dict without its string entries (video ids).

  Tuples (the raw frame reader's per-feature and per-chunk forms) are kept.
  """
  return {key: value for key, value in batch.items()
          if isinstance(value, (tuple, list)) or value.dtype != tf.string}


def uses_xla(model):
  """Whether `model`'s forward passes are compiled (its `jit_compile`)."""
  return bool(getattr(model, "jit_compile", True))


def compile_forward(model, fn, xla=False):
  """`fn` (a function of a numeric batch dict) as a tf.function, compiled
  with XLA when `xla` is set and the model allows it."""
  return tf.function(fn, jit_compile=bool(xla) and uses_xla(model))


def predictions_fn(model, xla=False):
  """batch -> float32 [B, C] predictions of `model` (inference mode),
  compiled as `compile_forward` says. The batch may hold strings."""
  def predict(batch):
    outputs = model(batch, training=False)
    return tf.cast(outputs["predictions"], tf.float32)
  compiled = compile_forward(model, predict, xla)
  return lambda batch: compiled(numeric(batch))
