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

from absl import flags
import tensorflow as tf

from youtube8m import models
from youtube8m.benchmarks import steps as step_lib
from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils

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
  train_fn, model, data = step_lib.train_step(
      FLAGS.model, b, d, c, FLAGS.frame_features, FLAGS.num_frames,
      model_flags, FLAGS.mixed_precision)
  if FLAGS.frame_features:
    train, flops_per_s, flops = _frame_bound(train_fn, model, data, b)
    bound = flops_per_s / (2 * flops / b)
    print(f"train step:            {train:10.1f} examples/sec")
    print(f"forward matmuls:       {flops / b / 1e9:10.3f} GFLOP/example "
          f"(x2 with the weight gradients)")
    print(f"matmul rate:           {flops_per_s / 1e9:10.1f} GFLOP/s "
          f"({' x '.join(map(str, step_lib.MATMUL_SHAPE))})")
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
  best = step_lib.interleaved_best(
      {"train": train_fn, "bound": step_lib.matmul_step(b, kernels)}, b,
      FLAGS.steps, FLAGS.trials)
  train, bound = best["train"], best["bound"]
  print(f"train step:            {train:10.1f} examples/sec")
  print(f"matmul fwd+bwd bound:  {bound:10.1f} examples/sec")
  print(f"train / bound = {train / bound:.0%}")
  print(json.dumps({"train_ex_per_s": round(train, 1),
                    "matmul_bound_ex_per_s": round(bound, 1)}))


def _frame_bound(train_fn, model, data, batch):
  """(train ex/s, matmul flop/s, forward matmul flops per batch)."""
  flops, loops = step_lib.forward_matmul_flops(model, data)
  if loops:
    print("note: the model loops (an RNN); the bound leaves out the loop "
          "bodies' matmuls")
  rate_fn, rate_flops = step_lib.matmul_rate_step()
  best = step_lib.interleaved_best({"train": train_fn, "rate": rate_fn},
                                  batch, FLAGS.steps, FLAGS.trials)
  return best["train"], best["rate"] / batch * rate_flops, flops
