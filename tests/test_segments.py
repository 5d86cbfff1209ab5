"""2019 segment task: reader, weighted loss, Class,Segments file, MAP, workflow."""

import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import segment_readers
from youtube8m.data import submissions
from youtube8m.data import synthetic
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import segment_eval_lib
from youtube8m.models import builders
from youtube8m.models import losses
from youtube8m.models import model_config
from youtube8m.prediction import segment_inference
from youtube8m.training import train_lib

from support import records
from support import workflow_helpers as wh

RNG = np.random.default_rng(2019)


def _segment_context(labels, starts, scores):
  """Segment context features, written here independently of the package."""
  return {
      "segment_labels": tf.train.Feature(
          int64_list=tf.train.Int64List(value=labels)),
      "segment_start_times": tf.train.Feature(
          int64_list=tf.train.Int64List(value=starts)),
      "segment_scores": tf.train.Feature(
          float_list=tf.train.FloatList(value=scores))}


def _frames(count):
  return {"rgb": RNG.integers(0, 256, (count, 8), dtype=np.uint8),
          "audio": RNG.integers(0, 256, (count, 4), dtype=np.uint8)}


def _read_all(dataset):
  parts = collections.defaultdict(list)
  for batch in dataset:
    for key, value in batch.items():
      parts[key].append(value.numpy())
  return {k: np.concatenate(v) for k, v in parts.items()}


def _error_of(reader, pattern):
  with pytest.raises((utils.Yt8mError, tf.errors.OpError)) as info:
    for _ in readers.make_dataset(reader, pattern, 4):
      pass
  message = utils.error_message(info.value)
  assert message is not None and "\n" not in message, str(info.value)[:500]
  return message


# ----------------------------------------------------------------- reader ---

@pytest.fixture(name="rated_file")
def _rated_file(tmp_path):
  """Three videos: ratings out of order, two classes on one segment, a
  partial last segment, a video without ratings, the 2017 id key."""
  videos = [
      ("a", [1, 2], _frames(17), ([2, 1, 1, 5], [10, 0, 15, 10],
                                  [1.0, 0.0, 1.0, 0.0])),
      ("b", [3], _frames(8), None),
      ("c", [4], _frames(12), ([4], [5], [1.0])),
  ]
  rows = []
  for vid, labels, frames, rated in videos:
    context = _segment_context(*rated) if rated else None
    rows.append(records.frame_record(vid, labels, frames, id_key=(
        "video_id" if vid == "c" else "id"), context=context))
  return records.write(tmp_path / "rated.tfrecord", rows), videos


def _expected_segment(frames, start):
  """uint8 [5, 12] frames start..start+4, zero bytes past the end."""
  joined = np.concatenate([frames["rgb"], frames["audio"]], axis=1)
  out = np.zeros((5, 12), np.uint8)
  part = joined[start:start + 5]
  out[:len(part)] = part
  return out, len(part)


@pytest.mark.slow
def test_rated_segments_exact_frames_labels_and_weights(rated_file):
  path, videos = rated_file
  reader = segment_readers.YT8MSegmentReader(6, "rgb,audio", "8,4", raw=True)
  out = _read_all(readers.make_dataset(reader, path, batch_size=2,
                                       num_readers=1))
  # Grouped by (video, start), in start order; the partial a:15 is kept.
  expected = [("a", 0, {1: 0.0}), ("a", 10, {2: 1.0, 5: 0.0}),
              ("a", 15, {1: 1.0}), ("c", 5, {4: 1.0})]
  assert [v.decode() for v in out["video_ids"]] == [
      f"{v}:{s}" for v, s, _ in expected]
  frames = {v: f for v, _, f, _ in videos}
  for i, (vid, start, rated) in enumerate(expected):
    segment, length = _expected_segment(frames[vid], start)
    np.testing.assert_array_equal(out["video_matrix"][i], segment)
    assert out["num_frames"][i] == length
    labels, weights = np.zeros(6, np.float32), np.zeros(6, np.float32)
    for cls, rating in rated.items():
      labels[cls], weights[cls] = rating, 1.0
    np.testing.assert_array_equal(out["labels"][i], labels)
    np.testing.assert_array_equal(out["label_weights"][i], weights)
  assert list(out["num_frames"]) == [5, 5, 2, 5]
  assert out["video_matrix"].dtype == np.uint8

  # Float frames: the dataset's dequantization, exact zeros as padding.
  floats = _read_all(readers.make_dataset(
      segment_readers.YT8MSegmentReader(6, "rgb,audio", "8,4"),
      path, batch_size=3, num_readers=1))
  segment, _ = _expected_segment(frames["a"], 15)
  want = records.dequantize(segment)
  want[2:] = 0.0
  np.testing.assert_allclose(floats["video_matrix"][2], want, atol=5e-7)


def test_every_segment_for_inference(rated_file):
  path, videos = rated_file
  reader = segment_readers.YT8MSegmentReader(6, "rgb,audio", "8,4", raw=True,
                                             all_segments=True)
  out = _read_all(readers.make_dataset(reader, path, batch_size=3,
                                       num_readers=1))
  want_ids, want_frames = [], []
  for vid, _, frames, _ in videos:
    for start in range(0, len(frames["rgb"]), 5):
      want_ids.append(f"{vid}:{start}")
      want_frames.append(_expected_segment(frames, start))
  assert [v.decode() for v in out["video_ids"]] == want_ids
  np.testing.assert_array_equal(out["video_matrix"],
                                np.stack([f for f, _ in want_frames]))
  assert list(out["num_frames"]) == [n for _, n in want_frames]
  assert "labels" not in out


@pytest.mark.parametrize("rated, expected", [
    (([1, 2], [0, 5, 10], [1.0, 0.0]),
     "segment_labels, segment_start_times and segment_scores have 2, 3, 2"),
    (([1], [15], [1.0]), "start time 15 is beyond the video's 12 frames"),
    (([7], [0], [1.0]), "segment label id 7 is outside [0, 6)"),
    (([1], [3], [1.0]), "start time 3 is not a multiple of 5"),
    (([1], [0], [0.5]), "segment score 0.5 is not 1 (present) or 0"),
])
def test_malformed_segment_fields(tmp_path, rated, expected):
  path = records.write(tmp_path / "bad.tfrecord", [
      records.frame_record("fine", [1], _frames(12),
                           context=_segment_context([1], [0], [1.0])),
      records.frame_record("broken", [1], _frames(12),
                           context=_segment_context(*rated))])
  message = _error_of(segment_readers.YT8MSegmentReader(6, "rgb,audio", "8,4"),
                      path)
  assert expected in message, message
  assert "bad.tfrecord" in message and "'broken'" in message


@pytest.mark.slow
def test_epochs_count_rated_segments_not_videos(rated_file, tmp_path):
  path, videos = rated_file
  # a: starts {0, 10, 15}; b: none; c: {5}. Four examples in three videos.
  assert segment_readers.count_rated_segments([path]) == 4
  assert len(_read_all(readers.make_dataset(
      segment_readers.YT8MSegmentReader(6, "rgb,audio", "8,4"), path,
      2))["video_ids"]) == 4
  flags = dict(model_config.all_defaults(), model="FrameLevelLogisticModel",
               frame_features=True, feature_names="rgb,audio",
               feature_sizes="8,4", num_classes=6)
  steps = train_lib.train(train_lib.TrainConfig(
      train_dir=str(tmp_path / "run"), train_data_pattern=path,
      model_flags=flags, explicit_flags=frozenset(flags), batch_size=2,
      num_epochs=3, export_model_steps=0, segment_labels=True, seed=1))
  assert steps == 6  # 3 epochs x 4 segments / 2 (videos would give 5)
  del videos


def test_segment_mode_needs_frame_features():
  with pytest.raises(utils.Yt8mError, match="--frame_features"):
    builders.make_reader(dict(model_config.all_defaults(), num_classes=6),
                         segment_labels=True)


# ------------------------------------------------------------------- loss ---

def test_weighted_loss_ignores_unrated_classes():
  predictions = tf.constant(RNG.uniform(0.01, 0.99, (3, 5)), tf.float32)
  labels = tf.constant([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 1, 1, 0, 0]],
                       tf.float32)
  weights = tf.constant([[1, 0, 0, 0, 0], [0, 0, 1, 1, 0], [0, 1, 0, 0, 0]],
                        tf.float32)
  loss_fn = losses.CrossEntropyLoss()
  with tf.GradientTape() as tape:
    tape.watch(predictions)
    loss = loss_fn.calculate_loss(predictions, labels, label_weights=weights)
  p, y = predictions.numpy(), labels.numpy()
  terms = -(y * np.log(p + 1e-5) + (1 - y) * np.log(1 - p + 1e-5))
  assert float(loss) == pytest.approx(np.sum(terms * weights.numpy()) / 3,
                                      rel=1e-6)
  # Unrated classes get no gradient, and changing them changes nothing.
  grads = tape.gradient(loss, predictions).numpy()
  assert np.all(grads[weights.numpy() == 0] == 0)
  assert np.all(grads[weights.numpy() == 1] != 0)
  unrated = weights.numpy() == 0
  moved = np.where(unrated, 1.0 - p, p)
  flipped = np.where(unrated, 1.0 - y, y)
  assert float(loss_fn.calculate_loss(moved, flipped, label_weights=weights)
               ) == pytest.approx(float(loss), rel=1e-6)


# --------------------------------------------------- Class,Segments file ---

def _checkpoint_dir(tmp_path, kernel_scale):
  """A FrameLevelLogisticModel checkpoint over 6 classes, 12 features."""
  flags = model_config.normalize(dict(
      model_config.all_defaults(), model="FrameLevelLogisticModel",
      frame_features=True, feature_names="rgb,audio", feature_sizes="8,4",
      num_classes=6))
  train_dir = str(tmp_path / f"model_{kernel_scale}")
  model, _ = builders.build_model(flags, create_variables=False)
  model.create_variables(12)
  kernel, bias = model.logistic.get_weights()
  model.logistic.set_weights([
      kernel_scale * RNG.standard_normal(kernel.shape).astype(np.float32),
      np.zeros_like(bias)])
  model_config.save(train_dir, flags)
  tf.train.Checkpoint(model=model).save(os.path.join(train_dir, "ckpt"))
  return train_dir, model


def _read_class_segments(path):
  with open(path) as f:
    lines = f.read().splitlines()
  assert lines[0] == "Class,Segments"
  rows = [line.split(",") for line in lines[1:]]
  return [int(c) for c, _ in rows], {int(c): s.split() for c, s in rows}


@pytest.mark.slow
def test_class_segments_order_cap_and_ties(tmp_path):
  path = records.write(tmp_path / "test.tfrecord", [
      records.frame_record(f"v{i}", [], _frames(n))
      for i, n in enumerate([12, 5, 23, 9])])  # 3 + 1 + 5 + 2 = 11 segments
  whitelist = tmp_path / "ids.csv"
  whitelist.write_text("Index\n4\n1\n3\n")
  train_dir, model = _checkpoint_dir(tmp_path, 3.0)
  out = str(tmp_path / "segments.csv")
  config = segment_inference.SegmentInferenceConfig(
      train_dir=train_dir, input_data_pattern=path, output_file=out,
      segment_max_pred=4, segment_label_ids_file=str(whitelist), batch_size=3)
  assert segment_inference.infer_segments(config) == 11
  classes, rows = _read_class_segments(out)
  assert classes == [1, 3, 4]  # class id order, whatever the file's order

  # Expected: the model's own scores on every segment, best first, top 4.
  reader = segment_readers.YT8MSegmentReader(6, "rgb,audio", "8,4", raw=True,
                                             all_segments=True)
  batch = _read_all(readers.make_dataset(reader, path, 100))
  scores = model(batch)["predictions"].numpy()
  ids = [v.decode() for v in batch["video_ids"]]
  for cls in classes:
    order = np.argsort(-scores[:, cls], kind="stable")[:4]
    assert rows[cls] == [ids[i] for i in order]

  # Zero weights: every score ties at 0.5; reading order decides, every run.
  train_dir, _ = _checkpoint_dir(tmp_path, 0.0)
  config.train_dir, config.segment_max_pred = train_dir, 100000
  segment_inference.infer_segments(config)
  _, rows = _read_class_segments(out)
  assert all(row == ids for row in rows.values())
  assert not [p for p in os.listdir(tmp_path) if ".yt8m-tmp-" in p]


def test_top_segments_streams_like_one_sort():
  scores = RNG.random((50, 3)).astype(np.float32)
  scores[10:20, 1] = 0.5  # ties
  top = segment_inference.TopSegments(3, k=7)
  for chunk in np.array_split(scores, 9):
    top.add(chunk)
  want = np.stack([np.lexsort((np.arange(50), -scores[:, c]))[:7]
                   for c in range(3)])
  np.testing.assert_array_equal(top.best(), want)


def test_whitelist_errors(tmp_path):
  bad = tmp_path / "bad.csv"
  bad.write_text("Index\n3\n4000\n")
  with pytest.raises(utils.Yt8mError, match="line 3: class 4000 is outside"):
    segment_inference.load_class_whitelist(str(bad), 3862)
  default = segment_inference.load_class_whitelist("", 3862)
  assert len(default) == 1000 and list(default) == sorted(default)


# -------------------------------------------------------------------- MAP ---

def test_map_at_n_of_a_hand_built_submission(tmp_path):
  def video(vid, rated):
    return records.frame_record(vid, [], _frames(20),
                                context=_segment_context(*rated))
  data = records.write(tmp_path / "rated.tfrecord", [
      video("a", ([3, 3, 7], [0, 5, 5], [1.0, 0.0, 1.0])),
      video("b", ([3], [0], [1.0])),
      video("c", ([3], [10], [0.0])),
      video("d", ([7, 7], [0, 5], [1.0, 0.0])),
      video("e", ([9], [0], [0.0])),  # a class with no positive: no AP
      video("f", ([11], [0], [1.0]))])  # missing from the submission: AP 0
  submission = tmp_path / "submission.csv"
  submission.write_text(
      "Class,Segments\n"
      "3,x:0 a:5 a:0 a:0 b:0 c:10\n"  # unrated x:0 skipped, repeat skipped
      "7,d:0 a:5 a:0\n"  # a:0 is not rated for 7: skipped
      "9,e:0\n")
  ratings = segment_eval_lib.read_ratings(str(data))
  parsed = submissions.read_submission(str(submission))
  # Class 3 ranks rated (neg, pos, pos, neg): AP = (1/2 + 2/3) / 2 = 7/12.
  # Class 7 ranks (pos, pos): AP = 1. Class 11: 0. MAP over 3 classes.
  result = segment_eval_lib.score_submission(parsed, ratings, top_n=100000)
  assert result["aps"] == pytest.approx({3: 7 / 12, 7: 1.0, 11: 0.0})
  assert result["map"] == pytest.approx(19 / 36)
  assert result["num_classes"] == 3 and result["classes_without_positives"] == 1
  # top_n=3 cuts class 3 to (x:0, a:5, a:0): (neg, pos) -> (1/2) / 2.
  result = segment_eval_lib.score_submission(parsed, ratings, top_n=3)
  assert result["map"] == pytest.approx((1 / 4 + 1.0 + 0.0) / 3)


def test_bad_submission_lines(tmp_path):
  path = tmp_path / "s.csv"
  for text, expected in [("VideoId,X\n", "first line must be"),
                         ("Class,Segments\nx,a:0\n", "line 2: class 'x'"),
                         ("Class,Segments\n1,a:0\n1,b:0\n", "second row"),
                         ("Class,Segments\n1,a0\n", "'a0' is not a segment")]:
    path.write_text(text)
    with pytest.raises(utils.Yt8mError, match=expected):
      submissions.read_submission(str(path))


# ------------------------------------------------------------ end to end ---

@pytest.fixture(name="data", scope="module")
def _data(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("segment_data"))
  # A stronger signal than the default 0.2 lets a few dozen steps learn.
  make_dataset.generate(out, num_train=400, num_validate=40, num_test=0,
                        shards=2, min_frames=10, max_frames=30, seed=11,
                        video_level=False, signal=0.4, segments=True,
                        num_segment_validate=600, num_segment_test=20)
  return out


def _train(train_dir, pattern, max_steps, model_flags=None, **kwargs):
  """model_flags: overrides of a FrameLevelLogisticModel on audio."""
  flags = {**model_config.all_defaults(), "model": "FrameLevelLogisticModel",
           "frame_features": True, "feature_names": "audio",
           "feature_sizes": "128", **(model_flags or {})}
  return train_lib.train(train_lib.TrainConfig(
      train_dir=train_dir, train_data_pattern=pattern, model_flags=flags,
      explicit_flags=frozenset(kwargs.pop("explicit", flags)), batch_size=32,
      num_epochs=None, max_steps=max_steps, export_model_steps=0, seed=1,
      **kwargs))


def _segment_map(train_dir, pattern):
  return eval_lib.evaluate(eval_lib.EvalConfig(
      train_dir=train_dir, eval_data_pattern=pattern, batch_size=64,
      run_once=True), segment_eval_lib.SegmentEvaluator)


@pytest.mark.slow
def test_generated_ratings_follow_the_frames(data):
  gen = synthetic.Generator(3862, seed=11, signal=0.4)  # same prototypes
  reader = segment_readers.YT8MSegmentReader(3862, "audio", "128")
  batch = _read_all(readers.make_dataset(
      reader, f"{data}/segment/validate0001.tfrecord", 1024))
  rated = np.argwhere(batch["label_weights"] > 0)
  assert set(rated[:, 1]) <= set(segment_inference.load_class_whitelist(
      "", 3862))
  means = batch["video_matrix"].mean(axis=1)  # [N, 128]
  dots = np.einsum("nd,nd->n", means[rated[:, 0]],
                   gen.prototypes["audio"][rated[:, 1]])
  positive = batch["labels"][rated[:, 0], rated[:, 1]] > 0
  assert 0.2 < positive.mean() < 0.8
  assert dots[positive].mean() > dots[~positive].mean() + 0.5
  # Test shards: no ratings, no labels.
  test = [tf.train.SequenceExample.FromString(r.numpy()) for r in
          tf.data.TFRecordDataset(tf.io.gfile.glob(f"{data}/segment/test*"))]
  assert len(test) == 20
  for record in test:
    context = record.context.feature
    assert not context["labels"].int64_list.value
    assert not {"segment_labels", "segment_scores"} & set(context)


@pytest.mark.slow
def test_video_level_then_segments_end_to_end(data, tmp_path):
  video_dir, segment_dir = str(tmp_path / "video"), str(tmp_path / "seg")
  fit, held_out = (f"{data}/segment/validate0000.tfrecord",
                   f"{data}/segment/validate0001.tfrecord")
  assert _train(video_dir, f"{data}/frame/train*", 60) == 60
  before = _segment_map(video_dir, held_out)

  # Fine-tune in a new train_dir from the video-level weights: flags come
  # from video_dir's model_flags.json, the optimizer and step start afresh.
  assert _train(segment_dir, fit, 60, explicit=(), segment_labels=True,
                init_from_checkpoint=video_dir) == 60
  assert model_config.load(segment_dir)["feature_names"] == "audio"
  after = _segment_map(segment_dir, held_out)
  assert after["map"] > before["map"] > 0.5, (before["map"], after["map"])
  assert tf.io.gfile.glob(f"{segment_dir}/eval_segments/events.*")

  # Or continue in video_dir itself (its checkpoint is restored); video-
  # and segment-level eval keep separate summaries in one train_dir.
  assert _train(video_dir, fit, 62, explicit=(), segment_labels=True) == 62
  eval_lib.evaluate(eval_lib.EvalConfig(
      train_dir=video_dir, eval_data_pattern=f"{data}/frame/validate*",
      batch_size=64, run_once=True))
  for sub in ("eval", "eval_segments"):
    assert tf.io.gfile.glob(f"{video_dir}/{sub}/events.*"), sub

  # Inference on the held-out shard, scored by the scorer CLI: the same
  # MAP as eval (every rated segment is in the submission).
  csv_path = str(tmp_path / "segments.csv")
  segment_inference.infer_segments(segment_inference.SegmentInferenceConfig(
      train_dir=segment_dir, input_data_pattern=held_out,
      output_file=csv_path, batch_size=64))
  classes, rows = _read_class_segments(csv_path)
  assert classes == sorted(classes) and len(classes) == 1000
  result = wh.run_script([
      "-m", "youtube8m.segment_eval", f"--eval_data_pattern={held_out}",
      f"--submission_file={csv_path}", "--top_n=100000"])
  scored = json.loads(result.stdout.strip().splitlines()[-1])
  assert scored["map"] == pytest.approx(after["map"], abs=1e-6)
  assert scored["num_classes"] == after["num_classes"] > 10

  # Random orders of the same segments score far lower. (Only rated
  # segments count and about half are positive, so chance is near 0.68.)
  ratings = segment_eval_lib.read_ratings(held_out)
  random_map = np.mean([segment_eval_lib.score_submission(
      {c: list(RNG.permutation(s)) for c, s in rows.items()}, ratings)["map"]
                        for _ in range(5)])
  assert scored["map"] > random_map + 0.1, (scored["map"], random_map)


TIME_AWARE = {
    "TransformerModel": dict(transformer_layers=1, transformer_width=16,
                             transformer_heads=2, transformer_ff_width=24),
    "GruModel": dict(gru_cells=8),
}


@pytest.mark.parametrize("model", sorted(TIME_AWARE))
@pytest.mark.slow
def test_time_aware_models_take_the_segment_path(data, tmp_path, model):
  """Video level, fine-tuned on rated segments, scored per segment: the
  inference file scores as eval does (docs/segments.md compares them)."""
  video_dir, segment_dir = str(tmp_path / "video"), str(tmp_path / "seg")
  fit, held_out = (f"{data}/segment/validate0000.tfrecord",
                   f"{data}/segment/validate0001.tfrecord")
  assert _train(video_dir, f"{data}/frame/train*", 8,
                dict(model=model, **TIME_AWARE[model]),
                base_learning_rate=0.001) == 8
  assert _train(segment_dir, fit, 8, explicit=(), segment_labels=True,
                init_from_checkpoint=video_dir) == 8
  saved = model_config.load(segment_dir)
  assert saved["model"] == model
  assert all(saved[k] == v for k, v in TIME_AWARE[model].items())
  evaluated = _segment_map(segment_dir, held_out)
  assert 0.0 < evaluated["map"] <= 1.0 and evaluated["num_classes"] > 10

  csv_path = str(tmp_path / "segments.csv")
  segment_inference.infer_segments(segment_inference.SegmentInferenceConfig(
      train_dir=segment_dir, input_data_pattern=held_out,
      output_file=csv_path, batch_size=64))
  classes, rows = _read_class_segments(csv_path)
  assert len(classes) == 1000
  scored = segment_eval_lib.score_submission(
      rows, segment_eval_lib.read_ratings(held_out))
  assert scored["map"] == pytest.approx(evaluated["map"], abs=1e-6)
