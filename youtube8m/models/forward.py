"""The forward pass of evaluation and inference, compiled as training's is.

Training compiles its single-replica step with XLA (trainer.Trainer) unless
the model sets `jit_compile = False` (LstmModel); `compile_forward` does the
same for the functions that run a model outside training, so eval.py and
inference.py get the fused dequantization, normalization and pooling that
training gets. XLA takes no string tensors: `numeric(batch)` drops the video
ids before the call.

Results are deterministic, as before: the same checkpoint, data and
--batch_size give the same predictions, bit for bit, run after run. They
are not bit-identical to the uncompiled forward (XLA fuses and orders the
float operations differently; about 1e-7 relative), which is why the choice
follows the model's attribute and is not a flag.
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


def compile_forward(model, fn, jit_compile=None):
  """`fn` (a function of a numeric batch dict) as a tf.function, compiled
  with XLA when the model allows it (or as `jit_compile` says)."""
  if jit_compile is None:
    jit_compile = uses_xla(model)
  return tf.function(fn, jit_compile=bool(jit_compile))


def predictions_fn(model, jit_compile=None):
  """batch -> float32 [B, C] predictions of `model` (inference mode),
  compiled as `compile_forward` says. The batch may hold strings."""
  def predict(batch):
    outputs = model(batch, training=False)
    return tf.cast(outputs["predictions"], tf.float32)
  compiled = compile_forward(model, predict, jit_compile)
  return lambda batch: compiled(numeric(batch))
