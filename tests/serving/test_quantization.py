"""quantization.py: int8 weights and scales against numpy, error bounds."""

import numpy as np
import tensorflow as tf

from youtube8m.serving import quantization


def test_per_channel_scales_values_and_error_bound():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(64, 10)).astype(np.float32) * np.arange(1, 11)
  w[:, 3] = 0.0  # a channel of zeros
  q, s = quantization.quantize(w, per_channel=True)
  assert q.dtype == np.int8 and q.shape == w.shape
  assert s.dtype == np.float32 and s.shape == (10,)
  peak = np.abs(w).max(axis=0)
  np.testing.assert_allclose(s[peak > 0], peak[peak > 0] / 127, rtol=1e-7)
  assert s[3] == 1.0 and not q[:, 3].any()
  # Each channel's largest weight maps to +-127; no value leaves the range.
  assert (np.abs(q).max(axis=0)[peak > 0] == 127).all()
  assert np.abs(q.astype(int)).max() <= 127
  error = np.abs(w.astype(np.float64) - q * s.astype(np.float64))
  assert (error <= s / 2 * (1 + 1e-6)).all()
  # Rounding to the nearest level: no level is closer than the one chosen.
  for step in (-1, 1):
    other = np.abs(w - (q.astype(np.float64) + step) * s)
    assert (error <= other + 1e-9).all()


def test_per_tensor_is_one_scale():
  w = np.array([[0.5, -2.0], [1.0, 0.25]], np.float32)
  q, s = quantization.quantize(w, per_channel=False)
  assert s.shape == () and s == np.float32(2.0 / 127)
  np.testing.assert_array_equal(q, np.rint(w / (2.0 / 127)).astype(np.int8))
  assert q[0, 1] == -127


def test_dequantize_in_the_graph_is_q_times_s():
  rng = np.random.default_rng(1)
  w = rng.normal(size=(3, 5, 7)).astype(np.float32)
  q, s = quantization.quantize(w)
  got = quantization.dequantize(tf.constant(q), tf.constant(s)).numpy()
  np.testing.assert_array_equal(got, q.astype(np.float32) * s)


def test_only_large_float_kernels_are_quantized():
  big = tf.Variable(tf.zeros([32, 32]))
  assert quantization.quantizable(big)
  assert not quantization.quantizable(tf.Variable(tf.zeros([4096])))  # bias
  assert not quantization.quantizable(tf.Variable(tf.zeros([8, 8])))
  assert not quantization.quantizable(tf.Variable(tf.zeros([32, 32],
                                                           tf.int32)))
