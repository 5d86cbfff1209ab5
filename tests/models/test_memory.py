"""memory.py: frame-level eval and inference batches fit a memory budget."""

import numpy as np
import pytest
from absl import logging as absl_logging

from youtube8m.evaluation import eval_lib
from youtube8m.models import builders
from youtube8m.models import memory
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib

from support import records
from support import tiny


def _frame_flags(model="FrameLevelLogisticModel", **overrides):
  flags = dict(model_config.all_defaults(), model=model, frame_features=True,
               feature_names="rgb,audio", feature_sizes="16,4",
               num_classes=tiny.NUM_CLASSES, nextvlad_cluster_size=4,
               nextvlad_hidden_size=8, groups=2, gating_reduction=2)
  flags.update(overrides)
  return model_config.normalize(flags)


def test_the_estimate_follows_frames_features_and_model():
  logistic, _ = builders.build_model(_frame_flags())
  nextvlad, _ = builders.build_model(_frame_flags("NeXtVLADModel"))
  small = memory.activation_bytes(logistic, [16, 4], 100)
  # Every per-frame tensor doubles with the frames: close to linear.
  assert memory.activation_bytes(logistic, [16, 4], 200) == pytest.approx(
      2 * small, rel=0.05)
  # At least the float frames themselves; NeXtVLAD expands every frame.
  assert small >= 100 * 20 * 4
  assert memory.activation_bytes(nextvlad, [16, 4], 100) > 2 * small
  assert memory.bytes_per_video(logistic, [16, 4], 100) == (
      memory.ACTIVE_SHARE * small)


def test_fit_batch_size_picks_a_power_of_two_or_warns():
  per_video = 3e6  # 3 MB: 666 videos fit 2 GB
  assert memory.fit_batch_size(None, 1024, per_video, 2.0)[0] == 512
  assert memory.fit_batch_size(None, 1024, per_video, 4.0) == (1024, None)
  assert memory.fit_batch_size(None, 1024, 5e9, 2.0)[0] == 1
  size, message = memory.fit_batch_size(1024, 1024, per_video, 2.0)
  assert size == 1024 and "--batch_size=1024" in message
  assert "about 666 videos fit" in message and "3.1 GB" in message
  assert memory.fit_batch_size(600, 1024, per_video, 2.0) == (600, None)
  # Video-level models: the batch size as given, or the default.
  assert memory.choose_batch_size(None, 1024, None, tiny.video_flags(),
                                  0.001) == (1024, None)


def _frame_data(path, count=11, seed=0):
  """`count` frame-level videos of 1 to 8 frames of rgb (16) and audio (4)."""
  rng = np.random.default_rng(seed)
  videos = []
  for n in range(count):
    frames = int(rng.integers(1, 9))
    videos.append(records.frame_record(
        f"v{n:02d}", [int(rng.integers(tiny.NUM_CLASSES))],
        {"rgb": rng.integers(0, 256, (frames, 16)),
         "audio": rng.integers(0, 256, (frames, 4))}))
  return records.write(path, videos)


@pytest.mark.slow
def test_eval_and_inference_use_the_batch_that_fits(tmp_path, monkeypatch):
  data = _frame_data(tmp_path / "frames.tfrecord")
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", _frame_flags())
  per_video = memory.bytes_per_video(model, [16, 4], 300)
  budget = 4.5 * per_video / 1e9  # 4 videos fit: batches of 4
  logged = []
  monkeypatch.setattr(absl_logging, "info",
                      lambda fmt, *a: logged.append(fmt % a))
  config = eval_lib.EvalConfig(train_dir=train_dir, eval_data_pattern=data,
                               run_once=True, top_k=3,
                               memory_budget_gb=budget)
  chosen = eval_lib.evaluate(config)
  assert any("frame-level batches of 4 videos" in line for line in logged)
  config.batch_size = 4
  same = eval_lib.evaluate(config)
  np.testing.assert_array_equal(chosen["aps"], same["aps"])
  assert chosen["gap"] == same["gap"]
  warnings = []
  monkeypatch.setattr(absl_logging, "warning",
                      lambda fmt, *a: warnings.append(fmt % a))
  config.batch_size = 11
  eval_lib.evaluate(config)
  assert any("--batch_size=11 of frame-level videos" in w for w in warnings)
  infer = inference_lib.InferenceConfig(
      train_dir=train_dir, input_data_pattern=data, top_k=3,
      output_file=str(tmp_path / "p.csv"), memory_budget_gb=budget)
  assert inference_lib.infer(infer) == 11
  assert any("frame-level batches of 4 videos" in line for line in logged)
