"""Steps timed by the benchmarks, and the bounds they are compared with.

`train_step` is the project's training step (trainer.Trainer) on an
in-memory batch; `matmul_step` and `matmul_rate_step` time bare matmuls of
the same shapes (no model trains faster); `forward_matmul_flops` counts a
model's matmul work; `interleaved_best` alternates trials so that machine
noise hits every candidate alike. No flags: the train_step benchmark and
the suite share them.
"""

import time

import numpy as np
import tensorflow as tf

from youtube8m.models import builders
from youtube8m.models import model_config
from youtube8m.training import trainer as trainer_lib


def rate(run, examples, steps):
  start = time.perf_counter()
  for _ in range(steps):
    result = run()
  float(np.asarray(result))  # wait for the last step
  return examples * steps / (time.perf_counter() - start)


def interleaved_best(runs, examples, steps, trials):
  """Best examples/sec of each run; trials alternate so noise hits all."""
  for run in runs.values():
    run()  # trace, compile and warm up
    run()
  best = {name: 0.0 for name in runs}
  for _ in range(trials):
    for name, run in runs.items():
      best[name] = max(best[name], rate(run, examples, steps))
  return best


def matmul_step(batch, kernel_shapes):
  """For each [in, out] kernel: y = x @ w and the weight gradient's matmul.

  Nothing else: no bias, activation, loss or update.
  """
  operands = [(tf.random.normal([batch, n_in]),
               tf.Variable(tf.random.normal([n_in, n_out]) * 0.01),
               tf.random.normal([batch, n_out]))
              for n_in, n_out in kernel_shapes]

  @tf.function
  def step():
    # The input needs no gradient: forward and the weight gradient only.
    total = 0.0
    for x, w, dy in operands:
      y = tf.matmul(x, w)
      grad_w = tf.matmul(x, dy, transpose_a=True)
      total += y[0, 0] + grad_w[0, 0]
    return total

  return step


MATMUL_SHAPE = (4096, 1024, 1024)  # rows, inner, columns


def matmul_rate_step(dtype=tf.float32):
  """(a no-argument call of 4 [4096, 1024] x [1024, 1024] matmuls, flops).

  dtype: the matmuls' (float16 or bfloat16 for a mixed precision bound).
  """
  rows, inner, columns = MATMUL_SHAPE
  x = tf.cast(tf.random.normal([rows, inner]), dtype)
  w = tf.Variable(tf.cast(tf.random.normal([inner, columns]) * 0.01, dtype))

  @tf.function
  def step():
    total = 0.0
    for i in range(4):  # distinct inputs: nothing to fold away
      total += tf.cast(tf.matmul(x + tf.cast(i, dtype), w)[0, 0],
                       tf.float32)
    return total

  return step, 4 * 2 * rows * inner * columns


def _dims(shape, unknown=None):
  dims = shape.as_list() if shape.rank is not None else None
  if dims is None or (None in dims and not unknown):
    raise ValueError(f"unknown shape {shape}")
  return [unknown if d is None else d for d in dims]


def _op_flops(op, unknown=None):
  """2 x multiply-adds of one MatMul/BatchMatMul/Einsum op (0 for others)."""
  if op.type == "MatMul" or op.type.startswith("BatchMatMul"):
    a = _dims(op.inputs[0].shape, unknown)
    transpose = op.get_attr("transpose_a" if op.type == "MatMul" else
                            "adj_x")
    inner = a[-2] if transpose else a[-1]
    return 2 * int(np.prod(_dims(op.outputs[0].shape, unknown))) * inner
  if op.type == "Einsum":
    equation = op.get_attr("equation").decode()
    inputs = equation.split("->")[0].split(",")
    sizes = {}
    for term, tensor in zip(inputs, op.inputs):
      for letter, size in zip(term, _dims(tensor.shape, unknown)):
        sizes[letter] = size
    return 2 * int(np.prod(list(sizes.values())))
  return 0


def forward_matmul_flops(model, data):
  """2 x multiply-adds of the matmuls of one training forward pass on
  `data` (static shapes), and whether the graph has loops (uncounted).

  A model that cuts a frame batch to its longest video (the temporal
  models) leaves that axis unknown when traced: it counts as the batch's
  full frame axis, which is what the benchmarks' full-length videos give.
  """
  forward = tf.function(lambda batch: model(batch, training=True))
  graph = forward.get_concrete_function(data).graph
  operations = graph.get_operations()
  loops = any(op.type in ("While", "StatelessWhile") for op in operations)
  matrix = data["video_matrix"]
  unknown = matrix.shape[1] if len(matrix.shape) == 3 else None
  return sum(_op_flops(op, unknown) for op in operations), loops


def train_step(model_name, batch, features, classes, frame, num_frames,
               model_flags=None, mixed_precision="", jit_compile=None,
               lengths=None):
  """(the project's training step as a no-argument call, the model, the
  batch).

  jit_compile: None compiles as train.py does (XLA unless the model opts
  out); False or True forces it. lengths: frames of each video [batch]
  (default: all num_frames), the rest zero padding.
  """
  flags_ = model_config.all_defaults()
  flags_.update(model_flags or {})
  flags_.update(model=model_name, num_classes=classes, frame_features=frame,
                feature_names="x", feature_sizes=str(features))
  strategy = tf.distribute.get_strategy()
  with trainer_lib.precision_policy(mixed_precision):
    model, loss_fn = builders.build_model(flags_)
    optimizer = trainer_lib.make_optimizer("AdamOptimizer", 0.001,
                                           mixed_precision)
  trainer = trainer_lib.Trainer(model, loss_fn, optimizer, strategy,
                                jit_compile=jit_compile)
  rng = np.random.default_rng(0)
  shape = [batch, num_frames, features] if frame else [batch, features]
  if frame:
    frames = rng.integers(0, 256, shape, np.uint8)
    counts = np.full(batch, num_frames) if lengths is None else np.asarray(
        lengths)
    frames[np.arange(num_frames)[None, :] >= counts[:, None]] = 0
    matrix = tf.constant(frames)
  else:
    counts = np.ones(batch)
    matrix = tf.constant(rng.normal(size=shape), tf.float32)
  data = {"video_matrix": matrix,
          "num_frames": tf.constant(counts, tf.int32),
          "labels": tf.constant(rng.random((batch, classes)) < 3 / classes,
                                tf.float32)}
  return (lambda: trainer.step(data)["label_loss"]), model, data
