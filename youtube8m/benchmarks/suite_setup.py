"""What the benchmark suite measures on: the machine, the sizes, the data.

`machine()` describes the devices (GPU names, CPU model and cores), the
TensorFlow build and the time; `Sizes` holds one preset of batch, frames,
features and classes (`preset` picks it from the devices and the budget);
`write_frame_data` and `write_video_data` generate the records the input,
eval and inference benchmarks read, and `train_dir` a checkpoint for them.
"""

import dataclasses
import datetime
import os
import platform

import numpy as np
import tensorflow as tf

from youtube8m.data import examples
from youtube8m.models import builders
from youtube8m.models import model_config


def _cpu_model():
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _memory_gb():
  try:
    return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                 / 1e9, 1)
  except (ValueError, OSError, AttributeError):
    return None


def gpus():
  return tf.config.list_physical_devices("GPU")


def machine():
  """The devices and software the figures were measured with."""
  devices = []
  for gpu in gpus():
    details = tf.config.experimental.get_device_details(gpu)
    devices.append({"type": "GPU", "name": details.get("device_name", "?"),
                    "compute_capability": details.get("compute_capability")})
  return {
      "devices": devices,
      "cpu": _cpu_model(),
      "cpu_cores": os.cpu_count(),
      "memory_gb": _memory_gb(),
      "tensorflow": tf.__version__,
      "built_with_cuda": tf.test.is_built_with_cuda(),
      "python": platform.python_version(),
      "platform": platform.platform(),
      "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
  }


@dataclasses.dataclass(frozen=True)
class Sizes:
  """One preset of the suite's shapes and amounts."""
  name: str
  batch: int  # frame-level examples per step
  video_batch: int  # video-level examples per step
  frames: int  # frames per video (max_frames)
  features: tuple  # (rgb, audio) widths
  classes: int
  videos: int  # frame-level videos written for the input benchmarks
  trial_seconds: float  # length of one timed trial
  trials: int
  model_flags: tuple = ()  # NeXtVLAD and other model flag overrides
  image_size: int = 299  # the extraction stand-in's input size
  video_seconds: int = 30  # the extraction benchmark's clip

  @property
  def feature_size(self):
    return sum(self.features)

  def flags(self, model, frame=True, **overrides):
    """A resolved model configuration of `model` at these sizes."""
    names = "rgb,audio" if frame else "mean_rgb,mean_audio"
    values = dict(model_config.all_defaults(), model=model,
                  frame_features=frame, feature_names=names,
                  feature_sizes=",".join(map(str, self.features)),
                  num_classes=self.classes)
    values.update(dict(self.model_flags))
    values.update(overrides)
    return model_config.normalize(values)


PRESETS = {
    # One GPU: the sizes users train at.
    "gpu": Sizes("gpu", batch=256, video_batch=1024, frames=300,
                 features=(1024, 128), classes=3862, videos=1024,
                 trial_seconds=3.0, trials=3),
    # A CPU: the same models at a small batch.
    "cpu": Sizes("cpu", batch=32, video_batch=1024, frames=300,
                 features=(1024, 128), classes=3862, videos=256,
                 trial_seconds=2.0, trials=2),
    # A tiny budget (the test): every benchmark runs, on toy shapes.
    "tiny": Sizes("tiny", batch=8, video_batch=64, frames=60,
                  features=(16, 8), classes=40, videos=48,
                  trial_seconds=0.3, trials=1,
                  model_flags=(("nextvlad_cluster_size", 4),
                               ("nextvlad_hidden_size", 16), ("groups", 2),
                               ("gating_reduction", 2),
                               ("netvlad_cluster_size", 4),
                               ("netvlad_hidden_size", 16),
                               ("moe_num_mixtures", 1)),
                  image_size=75, video_seconds=3),
}
TINY_BUDGET_MINUTES = 3.0


def preset(budget_minutes, name=""):
  """The Sizes for this machine: `name` if given, else gpu / cpu, or tiny
  under TINY_BUDGET_MINUTES."""
  if name:
    return PRESETS[name]
  if budget_minutes < TINY_BUDGET_MINUTES:
    return PRESETS["tiny"]
  return PRESETS["gpu" if gpus() else "cpu"]


def _labels(rng, classes):
  return sorted(int(c) for c in rng.choice(classes, 3, replace=False))


def write_frame_data(directory, sizes, count=None, shards=4, lengths=None,
                     seed=0):
  """Frame-level records: `count` videos of random bytes (rgb, audio).

  lengths: (fewest, most) frames a video; default every video has
  sizes.frames. Returns the glob of the shards.
  """
  rng = np.random.default_rng(seed)
  count = count or sizes.videos
  low, high = lengths or (sizes.frames, sizes.frames)
  os.makedirs(directory, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(directory, f"f{i}.tfrecord"))
             for i in range(shards)]
  try:
    for n in range(count):
      frames = int(rng.integers(low, high + 1))
      features = {name: rng.integers(0, 256, (frames, size), np.uint8)
                  for name, size in zip(("rgb", "audio"), sizes.features)}
      writers[n % shards].write(examples.frame_example(
          f"f{n:06d}", _labels(rng, sizes.classes),
          features).SerializeToString())
  finally:
    for writer in writers:
      writer.close()
  return os.path.join(directory, "f*.tfrecord")


def write_video_data(directory, sizes, count, shards=4, seed=0):
  """Video-level records (mean_rgb, mean_audio); returns their glob."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(directory, f"v{i}.tfrecord"))
             for i in range(shards)]
  try:
    for n in range(count):
      features = {name: rng.normal(size=size) for name, size in
                  zip(("mean_rgb", "mean_audio"), sizes.features)}
      writers[n % shards].write(examples.video_example(
          f"v{n:06d}", _labels(rng, sizes.classes),
          features).SerializeToString())
  finally:
    for writer in writers:
      writer.close()
  return os.path.join(directory, "v*.tfrecord")


def train_dir(directory, flags):
  """A train_dir with model_flags.json and a checkpoint of a fresh model
  (random weights: speed does not depend on them)."""
  model, _ = builders.build_model(flags)
  model_config.save(directory, flags)
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), directory,
                             max_to_keep=1).save(checkpoint_number=1)
  return directory
