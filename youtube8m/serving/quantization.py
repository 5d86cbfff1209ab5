"""Weight-only int8 quantization of exported models (`--quantize=int8`).

Symmetric uniform quantization (the scheme of Jacob et al., "Quantization
and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference", CVPR 2018, with the zero point fixed at 0): a float tensor w
is stored as int8 values q in [-127, 127] and float32 scales s,

    s = max|w| / 127,    q = round(w / s),    w ~ q * s,

with one scale per output channel (the last axis: a Dense kernel [in, out]
gets [out] scales) or one for the whole tensor. Each weight is off by at
most s / 2. Only the weights are quantized; the graph multiplies them back
(`dequantize`) and computes in float32, so inputs, outputs and arithmetic
are those of the float32 model. A kernel then takes a quarter of its
float32 bytes on disk and in the SavedModel's memory.

Which tensors: trainable float tensors of rank >= 2 with at least
MIN_ELEMENTS values (kernels, cluster centres, embeddings). Biases, batch
norm statistics and other small tensors stay float (they are a small part
of the size, and batch-norm variances are sensitive to relative error).
"""

import numpy as np
import tensorflow as tf

INT8_MAX = 127
# Below this many values a tensor is not worth its scales and the extra op.
MIN_ELEMENTS = 1024


def quantizable(variable):
  """Whether `--quantize=int8` stores this (trainable) variable in int8."""
  shape = tuple(variable.shape)
  return (tf.as_dtype(variable.dtype).is_floating and len(shape) >= 2 and
          int(np.prod(shape)) >= MIN_ELEMENTS)


def quantize(values, per_channel=True):
  """float array w [..., N] -> (int8 q of w's shape, float32 scales s).

  Args:
    values: the float weights.
    per_channel: one scale per index of the last axis (s [N]); else one
      scale for the tensor (s a scalar).

  Returns:
    q int8 in [-127, 127] and s > 0 with |w - q * s| <= s / 2 (a channel
    of zeros gets s = 1 and q = 0).
  """
  values = np.asarray(values, np.float32)
  axes = tuple(range(values.ndim - 1)) if per_channel else None
  peak = np.max(np.abs(values), axis=axes).astype(np.float64)
  scales = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32)
  # The stored (float32) scale divides, in float64: q is the exact ratio
  # rounded, so the bound holds for the scale the graph multiplies by.
  ratio = values.astype(np.float64) / scales.astype(np.float64)
  q = np.clip(np.rint(ratio), -INT8_MAX, INT8_MAX).astype(np.int8)
  return q, scales


def dequantize(q, scales):
  """int8 tensor q [..., N] and scales ([N] or []) -> float32 q * s."""
  return tf.cast(q, tf.float32) * scales
