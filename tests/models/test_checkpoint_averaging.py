"""checkpoint_averaging.py: the mean of the newest checkpoints, as a train_dir."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.models import builders
from youtube8m.models import checkpoint_averaging as averaging
from youtube8m.models import checkpoints
from youtube8m.models import ema
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib
from youtube8m.serving import export

from support import tiny
from support import workflow_helpers as wh


def _run_dir(path, steps=(10, 20, 30, 40), with_average=False):
  """A train_dir with a checkpoint per step, each of other random weights
  (and, with_average, an `ema` copy that differs from them)."""
  flags = tiny.video_flags()
  model, _ = builders.build_model(flags)
  objects = {"model": model}
  if with_average:
    objects[ema.CHECKPOINT_KEY], _ = builders.build_model(flags)
  model_config.save(str(path), flags)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(**objects),
                                       str(path), max_to_keep=10)
  rng = np.random.default_rng(0)
  for step in steps:
    for obj in objects.values():
      for v in obj.variables:
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    manager.save(checkpoint_number=step)
  return str(path)


def _stored(prefix, key):
  """{variable name: value} of the `key/` part of a checkpoint, read raw."""
  reader = tf.train.load_checkpoint(prefix)
  return {name[len(key) + 1:]: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.startswith(key + "/") and "OPTIMIZER" not in name}


@pytest.mark.parametrize("with_average", [False, True])
def test_the_average_is_the_numpy_mean_of_the_newest(tmp_path, with_average):
  train_dir = _run_dir(tmp_path / "run", with_average=with_average)
  out = str(tmp_path / "avg")
  prefix = averaging.average_checkpoints(averaging.AverageConfig(
      train_dir=train_dir, num_checkpoints=3, output_dir=out))
  assert prefix == os.path.join(out, "ckpt-40")
  assert checkpoints.latest_checkpoint(out) == prefix
  key = ema.CHECKPOINT_KEY if with_average else "model"
  sources = [_stored(os.path.join(train_dir, f"ckpt-{s}"), key)
             for s in (20, 30, 40)]
  got = _stored(prefix, "model")
  assert set(got) == set(sources[0]) and len(got) == 2  # kernel, bias
  for name, value in got.items():
    want = np.mean([s[name].astype(np.float64) for s in sources], axis=0)
    np.testing.assert_allclose(value, want.astype(np.float32), rtol=1e-6)
  assert model_config.load(out) == model_config.load(train_dir)
  assert json.load(open(os.path.join(out, "model_size.json")))[
      "parameters"] == tiny.FEATURES * tiny.NUM_CLASSES + tiny.NUM_CLASSES
  assert json.load(open(os.path.join(out, averaging.RECORD)))[
      "checkpoints"] == [os.path.join(train_dir, f"ckpt-{s}")
                         for s in (20, 30, 40)]


def test_inference_and_export_use_it_as_a_train_dir(tmp_path):
  train_dir = _run_dir(tmp_path / "run")
  out = str(tmp_path / "avg")
  prefix = averaging.average_checkpoints(averaging.AverageConfig(
      train_dir=train_dir, num_checkpoints=2, output_dir=out))
  weights = _stored(prefix, "model")
  kernel = next(v for v in weights.values() if v.ndim == 2)
  bias = next(v for v in weights.values() if v.ndim == 1)
  path, videos = tiny.video_file(tmp_path / "v.tfrecord", count=4)
  csv_path = str(tmp_path / "p.csv")
  inference_lib.infer(inference_lib.InferenceConfig(
      train_dir=out, input_data_pattern=path, output_file=csv_path, top_k=2))
  rows = wh.read_predictions(csv_path)
  for video, (_, features) in videos.items():
    unit = features / np.linalg.norm(features)
    want = 1 / (1 + np.exp(-(unit @ kernel + bias)))
    assert [c for c, _ in rows[video]] == list(np.argsort(-want)[:2])
    np.testing.assert_allclose([s for _, s in rows[video]],
                               np.sort(want)[::-1][:2], rtol=1e-5)
  exported = export.export_checkpoint(export.ExportConfig(
      train_dir=out, output_dir=str(tmp_path / "sm")))
  assert export.is_saved_model(exported)


def test_refusals(tmp_path):
  train_dir = _run_dir(tmp_path / "run", steps=(1, 2))
  with pytest.raises(utils.Yt8mError, match=r"--num_checkpoints=3 but .* "
                     r"keeps 2 checkpoint\(s\) \(ckpt-1, ckpt-2\)"):
    averaging.average_checkpoints(averaging.AverageConfig(
        train_dir=train_dir, num_checkpoints=3,
        output_dir=str(tmp_path / "a")))
  busy = tmp_path / "busy"
  busy.mkdir()
  (busy / "notes.txt").write_text("mine")
  with pytest.raises(utils.Yt8mError, match="not an empty directory"):
    averaging.average_checkpoints(averaging.AverageConfig(
        train_dir=train_dir, num_checkpoints=2, output_dir=str(busy)))
  assert (busy / "notes.txt").read_text() == "mine"
  with pytest.raises(utils.Yt8mError, match="must not be --train_dir"):
    averaging.average_checkpoints(averaging.AverageConfig(
        train_dir=train_dir, num_checkpoints=2, output_dir=train_dir + "/"))
  with pytest.raises(utils.Yt8mError, match="--num_checkpoints=0"):
    averaging.average_checkpoints(averaging.AverageConfig(
        train_dir=train_dir, num_checkpoints=0, output_dir=str(tmp_path / "a")))


@pytest.mark.slow
def test_command_line(tmp_path):
  train_dir = _run_dir(tmp_path / "run")
  result = wh.run_script(["-m", "youtube8m.average_checkpoints",
                          f"--train_dir={train_dir}", "--num_checkpoints=4",
                          f"--output_dir={tmp_path / 'avg'}"])
  assert result.stdout.strip() == str(tmp_path / "avg" / "ckpt-40")
  failed = wh.run_script(["-m", "youtube8m.average_checkpoints",
                          f"--train_dir={train_dir}", "--num_checkpoints=9",
                          f"--output_dir={tmp_path / 'b'}"], check=False)
  assert failed.returncode == 1
  assert failed.stderr.strip().splitlines()[-1].startswith(
      "error: --num_checkpoints=9 but")
