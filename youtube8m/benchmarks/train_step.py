r"""Training step throughput against a bare matmul bound of the same shapes.

  python -m youtube8m.benchmark train_step --model=LogisticModel

Times `trainer.Trainer.step` (forward, loss, gradients, clipping, Adam
update, as train.py runs it) on in-memory batches, so the input pipeline is
left out. In the same run it times a bare forward + backward matmul of the
classifier's shapes ([batch, features] x [features, classes] and the weight
gradient's matmul, for every kernel of a video-level model: e.g. both the
gates and the experts of MoeModel): no model can train a batch faster.
Frame models are timed the same way (--frame_features); their bound is a
logistic classifier on pooled features, so it leaves out their frame-wise
work. The last line is one JSON object.
"""

import json
import time

from absl import flags
import numpy as np
import tensorflow as tf

from youtube8m import builders
from youtube8m import model_config
from youtube8m import models
from youtube8m import trainer as trainer_lib
from youtube8m import utils

flags.DEFINE_string("model", "LogisticModel", "Model to time.")
flags.DEFINE_integer("batch_size", 1024, "Examples per step.")
flags.DEFINE_integer("num_classes", 3862, "Classes.")
flags.DEFINE_integer("feature_size", 1024, "Features per video (or frame).")
flags.DEFINE_bool("frame_features", False, "Time a frame-level model.")
flags.DEFINE_integer("num_frames", 300, "Frames per video (frame models).")
flags.DEFINE_integer("steps", 20, "Timed steps per trial.")
flags.DEFINE_integer("trials", 4, "Trials per measurement (best counts).")
FLAGS = flags.FLAGS


def _rate(run, examples, steps):
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
      best[name] = max(best[name], _rate(run, examples, steps))
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


def train_step(model_name, batch, features, classes, frame, num_frames):
  """(the project's training step as a no-argument call, the model)."""
  flags_ = model_config.all_defaults()
  flags_.update(model=model_name, num_classes=classes, frame_features=frame,
                feature_names="x", feature_sizes=str(features))
  strategy = tf.distribute.get_strategy()
  model, loss_fn = builders.build_model(flags_)
  optimizer = trainer_lib.make_optimizer("AdamOptimizer", 0.001)
  trainer = trainer_lib.Trainer(model, loss_fn, optimizer, strategy)
  rng = np.random.default_rng(0)
  shape = [batch, num_frames, features] if frame else [batch, features]
  data = {"video_matrix": tf.constant(rng.integers(0, 256, shape, np.uint8))
                          if frame else tf.constant(rng.normal(size=shape),
                                                    tf.float32),
          "num_frames": tf.fill([batch], num_frames if frame else 1),
          "labels": tf.constant(rng.random((batch, classes)) < 3 / classes,
                                tf.float32)}
  return (lambda: trainer.step(data)["label_loss"]), model


def main(argv):
  del argv
  cls = models.get_model_class(FLAGS.model)
  if cls.frame_level != FLAGS.frame_features:
    raise utils.Yt8mError(f"--model={FLAGS.model} needs "
                          f"{'' if cls.frame_level else 'no '}"
                          "--frame_features")
  b, d, c = FLAGS.batch_size, FLAGS.feature_size, FLAGS.num_classes
  print(f"{FLAGS.model}: batch {b}, {d} features"
        f"{f' x {FLAGS.num_frames} frames' if FLAGS.frame_features else ''},"
        f" {c} classes, {FLAGS.trials} trials of {FLAGS.steps} steps, "
        f"TensorFlow {tf.__version__} on "
        f"{'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}")
  train_fn, model = train_step(FLAGS.model, b, d, c, FLAGS.frame_features,
                               FLAGS.num_frames)
  if FLAGS.frame_features:
    # Frame-wise matmuls (DBoF projections, LSTM steps) have other row
    # counts; the bound is a logistic classifier on the pooled features.
    kernels = [(d, c)]
  else:
    kernels = [tuple(v.shape) for v in model.trainable_variables
               if len(v.shape) == 2]
  print(f"bound: matmuls of {', '.join(f'[{b}, {i}] x [{i}, {o}]' for i, o in kernels)}")
  best = interleaved_best({"train": train_fn, "bound": matmul_step(b, kernels)},
                          b, FLAGS.steps, FLAGS.trials)
  train, bound = best["train"], best["bound"]
  print(f"train step:            {train:10.1f} examples/sec")
  print(f"matmul fwd+bwd bound:  {bound:10.1f} examples/sec")
  print(f"train / bound = {train / bound:.0%}")
  print(json.dumps({"train_ex_per_s": round(train, 1),
                    "matmul_bound_ex_per_s": round(bound, 1)}))
