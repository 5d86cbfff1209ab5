r"""Training step throughput against a bare matmul bound of the same shapes.

  python -m youtube8m.benchmark train_step --model=LogisticModel

Times `trainer.Trainer.step` (forward, loss, gradients, clipping, Adam
update, as train.py runs it) on in-memory batches, so the input pipeline is
left out. In the same run it times a bare forward + backward matmul of the
classifier's shapes ([batch, features] x [features, classes] and the weight
gradient's matmul, for every kernel of a video-level model: e.g. both the
gates and the experts of MoeModel): no model can train a batch faster.
The last line is one JSON object.

Frame models (--frame_features) are timed the same way against a bound
from their matmul work: the forward pass's matmuls and einsums are
counted in its graph (2 flops per multiply-add; frame-wise layers count
once per frame), doubled for the backward pass's weight gradients (the
input gradients are left out, so it stays a bound), and divided into the
rate this machine multiplies [4096, 1024] x [1024, 1024] matrices at,
measured in the same run. Work outside matmuls (softmaxes, normalizations,
gathers, the update) is free in the bound, so a model that is mostly
matmuls (NeXtVLAD) can approach it and one that is not (the frame
average) cannot. Loops (LstmModel) are not counted.

Other model flags: --model_flags, a JSON object (e.g.
'{"netvlad_cluster_size": 16}'); --mixed_precision times the step under a
mixed dtype policy.
"""

import dataclasses
import json
import time

from absl import flags
import numpy as np
import tensorflow as tf

from youtube8m import models
from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.models import builders
from youtube8m.models import model_config
from youtube8m.training import trainer as trainer_lib

@dataclasses.dataclass
class TrainStepConfig:
  """Settings of the train step benchmark."""
  model: str = settings.setting(
      "LogisticModel", "Model to time.")
  batch_size: int = settings.setting(
      1024, "Examples per step.", check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Classes.", check=checks.positive_int)
  feature_size: int = settings.setting(
      1024, "Features per video (or frame).", check=checks.positive_int)
  frame_features: bool = settings.setting(
      False, "Time a frame-level model.")
  num_frames: int = settings.setting(
      300, "Frames per video (frame models).", check=checks.positive_int)
  steps: int = settings.setting(
      20, "Timed steps per trial.", check=checks.positive_int)
  trials: int = settings.setting(
      4, "Trials per measurement (best counts).", check=checks.positive_int)
  model_flags: str = settings.setting(
      "{}", "Other model flags, as a JSON object.")
  mixed_precision: str = settings.setting(
      "", "Time the step under this policy (mixed_float16 or "
      "mixed_bfloat16), as train.py runs it.")


settings.define_flags(TrainStepConfig)
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


MATMUL_SHAPE = (4096, 1024, 1024)  # rows, inner, columns


def matmul_rate_step():
  """(a no-argument call of 4 [4096, 1024] x [1024, 1024] matmuls, flops)."""
  rows, inner, columns = MATMUL_SHAPE
  x = tf.random.normal([rows, inner])
  w = tf.Variable(tf.random.normal([inner, columns]) * 0.01)

  @tf.function
  def step():
    total = 0.0
    for i in range(4):  # distinct inputs: nothing to fold away
      total += tf.matmul(x + float(i), w)[0, 0]
    return total

  return step, 4 * 2 * rows * inner * columns


def _dims(shape):
  dims = shape.as_list() if shape.rank is not None else None
  if dims is None or None in dims:
    raise ValueError(f"unknown shape {shape}")
  return dims


def _op_flops(op):
  """2 x multiply-adds of one MatMul/BatchMatMul/Einsum op (0 for others)."""
  if op.type == "MatMul" or op.type.startswith("BatchMatMul"):
    a = _dims(op.inputs[0].shape)
    transpose = op.get_attr("transpose_a" if op.type == "MatMul" else
                            "adj_x")
    inner = a[-2] if transpose else a[-1]
    return 2 * int(np.prod(_dims(op.outputs[0].shape))) * inner
  if op.type == "Einsum":
    equation = op.get_attr("equation").decode()
    inputs = equation.split("->")[0].split(",")
    sizes = {}
    for term, tensor in zip(inputs, op.inputs):
      for letter, size in zip(term, _dims(tensor.shape)):
        sizes[letter] = size
    return 2 * int(np.prod(list(sizes.values())))
  return 0


def forward_matmul_flops(model, data):
  """2 x multiply-adds of the matmuls of one training forward pass on
  `data` (static shapes), and whether the graph has loops (uncounted)."""
  forward = tf.function(lambda batch: model(batch, training=True))
  graph = forward.get_concrete_function(data).graph
  operations = graph.get_operations()
  loops = any(op.type in ("While", "StatelessWhile") for op in operations)
  return sum(_op_flops(op) for op in operations), loops


def train_step(model_name, batch, features, classes, frame, num_frames,
               model_flags=None, mixed_precision=""):
  """(the project's training step as a no-argument call, the model, the
  batch)."""
  flags_ = model_config.all_defaults()
  flags_.update(model_flags or {})
  flags_.update(model=model_name, num_classes=classes, frame_features=frame,
                feature_names="x", feature_sizes=str(features))
  strategy = tf.distribute.get_strategy()
  with trainer_lib.precision_policy(mixed_precision):
    model, loss_fn = builders.build_model(flags_)
    optimizer = trainer_lib.make_optimizer("AdamOptimizer", 0.001,
                                           mixed_precision)
  trainer = trainer_lib.Trainer(model, loss_fn, optimizer, strategy)
  rng = np.random.default_rng(0)
  shape = [batch, num_frames, features] if frame else [batch, features]
  data = {"video_matrix": tf.constant(rng.integers(0, 256, shape, np.uint8))
                          if frame else tf.constant(rng.normal(size=shape),
                                                    tf.float32),
          "num_frames": tf.fill([batch], num_frames if frame else 1),
          "labels": tf.constant(rng.random((batch, classes)) < 3 / classes,
                                tf.float32)}
  return (lambda: trainer.step(data)["label_loss"]), model, data


def main(argv):
  del argv
  settings.validate(settings.from_flags(TrainStepConfig))
  # Typed on this command line: a dotted path may be imported.
  cls = models.import_model_class(FLAGS.model)
  if cls.frame_level != FLAGS.frame_features:
    raise utils.Yt8mError(f"--model={FLAGS.model} needs "
                          f"{'' if cls.frame_level else 'no '}"
                          "--frame_features")
  b, d, c = FLAGS.batch_size, FLAGS.feature_size, FLAGS.num_classes
  policy = f" ({FLAGS.mixed_precision})" if FLAGS.mixed_precision else ""
  print(f"{FLAGS.model}{policy}: batch {b}, {d} features"
        f"{f' x {FLAGS.num_frames} frames' if FLAGS.frame_features else ''},"
        f" {c} classes, {FLAGS.trials} trials of {FLAGS.steps} steps, "
        f"TensorFlow {tf.__version__} on "
        f"{'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}")
  model_flags = json.loads(FLAGS.model_flags)
  if not isinstance(model_flags, dict):
    raise utils.Yt8mError("--model_flags must be a JSON object")
  train_fn, model, data = train_step(FLAGS.model, b, d, c,
                                     FLAGS.frame_features, FLAGS.num_frames,
                                     model_flags, FLAGS.mixed_precision)
  if FLAGS.frame_features:
    train, flops_per_s, flops = _frame_bound(train_fn, model, data, b)
    bound = flops_per_s / (2 * flops / b)
    print(f"train step:            {train:10.1f} examples/sec")
    print(f"forward matmuls:       {flops / b / 1e9:10.3f} GFLOP/example "
          f"(x2 with the weight gradients)")
    print(f"matmul rate:           {flops_per_s / 1e9:10.1f} GFLOP/s "
          f"({' x '.join(map(str, MATMUL_SHAPE))})")
    print(f"matmul work bound:     {bound:10.1f} examples/sec")
    print(f"train / bound = {train / bound:.0%}")
    print(json.dumps({"train_ex_per_s": round(train, 1),
                      "matmul_bound_ex_per_s": round(bound, 1),
                      "forward_gflop_per_example": round(flops / b / 1e9, 4),
                      "matmul_gflop_per_s": round(flops_per_s / 1e9, 1)}))
    return
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


def _frame_bound(train_fn, model, data, batch):
  """(train ex/s, matmul flop/s, forward matmul flops per batch)."""
  flops, loops = forward_matmul_flops(model, data)
  if loops:
    print("note: the model loops (an RNN); the bound leaves out the loop "
          "bodies' matmuls")
  rate_fn, rate_flops = matmul_rate_step()
  best = interleaved_best({"train": train_fn, "rate": rate_fn},
                          batch, FLAGS.steps, FLAGS.trials)
  return best["train"], best["rate"] / batch * rate_flops, flops
