r"""Peak memory of training steps, beside the batch it holds.

  python -m youtube8m.benchmark train_memory --model=TransformerModel \
      --frame_features --batch_size=128

Runs `--steps` steps of the project's training step (the train_step
benchmark's: forward, loss, gradients, clipping, Adam update) on one
in-memory batch of uint8 frames, as the reader gives them, and prints the
peak memory they took: on a GPU the device's peak allocation
(tf.config.experimental.get_memory_info), on CPU the growth of the
process's peak resident set (ru_maxrss) over what it held before the model
was built. The baseline printed beside it is the batch itself (uint8
frames and float32 labels): what any model must hold. The last line is one
JSON object. Model flags: --model_flags, as for train_step.
"""

import dataclasses
import json
import resource

from absl import flags
import tensorflow as tf

from youtube8m import models
from youtube8m.benchmarks import steps as step_lib
from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils


@dataclasses.dataclass
class TrainMemoryConfig:
  """Settings of the train memory benchmark."""
  model: str = settings.setting("TransformerModel", "Model to measure.")
  batch_size: int = settings.setting(
      128, "Examples per step (the starter code's frame-level batch: 128; "
      "train.py's default 1024).", check=checks.positive_int)
  num_classes: int = settings.setting(3862, "Classes.",
                                      check=checks.positive_int)
  feature_size: int = settings.setting(
      1152, "Features per frame (or video).", check=checks.positive_int)
  frame_features: bool = settings.setting(True,
                                          "Measure a frame-level model.")
  num_frames: int = settings.setting(
      300, "Frames per video (frame models).", check=checks.positive_int)
  steps: int = settings.setting(2, "Steps measured.",
                                check=checks.positive_int)
  model_flags: str = settings.setting(
      "{}", "Other model flags, as a JSON object.")


settings.define_flags(TrainMemoryConfig)
FLAGS = flags.FLAGS


def _host_peak_bytes():
  # ru_maxrss is in kilobytes on Linux.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv):
  del argv
  settings.validate(settings.from_flags(TrainMemoryConfig))
  # Typed on this command line: a dotted path may be imported.
  cls = models.import_model_class(FLAGS.model)
  if cls.frame_level != FLAGS.frame_features:
    raise utils.Yt8mError(f"--model={FLAGS.model} needs "
                          f"{'' if cls.frame_level else 'no '}"
                          "--frame_features")
  model_flags = json.loads(FLAGS.model_flags)
  if not isinstance(model_flags, dict):
    raise utils.Yt8mError("--model_flags must be a JSON object")
  gpu = bool(tf.config.list_physical_devices("GPU"))
  before = _host_peak_bytes()
  b, d, c = FLAGS.batch_size, FLAGS.feature_size, FLAGS.num_classes
  step, model, data = step_lib.train_step(
      FLAGS.model, b, d, c, FLAGS.frame_features, FLAGS.num_frames,
      model_flags)
  if gpu:
    tf.config.experimental.reset_memory_stats("GPU:0")
  for _ in range(FLAGS.steps):
    float(step())
  peak = (tf.config.experimental.get_memory_info("GPU:0")["peak"] if gpu
          else _host_peak_bytes() - before)
  batch = sum(int(tf.size(v)) * v.dtype.size for v in data.values())
  params = sum(int(tf.size(v)) for v in model.trainable_variables)
  where = "GPU peak allocation" if gpu else "host peak RSS growth"
  print(f"{FLAGS.model}: batch {b} x {FLAGS.num_frames if cls.frame_level else 1}"
        f" x {d}, {c} classes, {params / 1e6:.2f}M parameters, "
        f"TensorFlow {tf.__version__} on {'GPU' if gpu else 'CPU'}")
  print(f"{where}:  {peak / 2**30:8.2f} GiB")
  print(f"the batch itself:      {batch / 2**30:8.2f} GiB")
  print(json.dumps({"peak_bytes": int(peak), "batch_bytes": batch,
                    "parameters": params, "device": "GPU" if gpu else "CPU"}))
