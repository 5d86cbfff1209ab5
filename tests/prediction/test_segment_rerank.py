"""segment_rerank.py: whole-video priors for segment lists, against numpy."""

import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.models import builders
from youtube8m.models import model_config
from youtube8m.prediction import segment_inference
from youtube8m.prediction import segment_rerank

from support import records

RNG = np.random.default_rng(5)
LENGTHS = [12, 5, 23, 9, 14]  # 3 + 1 + 5 + 2 + 3 = 14 segments
WHITELIST = [1, 3, 4]


def _videos():
  return [{"rgb": RNG.integers(0, 256, (n, 8), dtype=np.uint8),
           "audio": RNG.integers(0, 256, (n, 4), dtype=np.uint8)}
          for n in LENGTHS]


def _model_dir(path, seed):
  flags = model_config.normalize(dict(
      model_config.all_defaults(), model="FrameLevelLogisticModel",
      frame_features=True, feature_names="rgb,audio", feature_sizes="8,4",
      num_classes=6))
  model, _ = builders.build_model(flags)
  rng = np.random.default_rng(seed)
  model.set_weights([3 * rng.standard_normal(w.shape).astype(np.float32)
                     for w in model.get_weights()])
  model_config.save(str(path), flags)
  tf.train.Checkpoint(model=model).save(os.path.join(str(path), "ckpt"))
  return str(path), model


def _float(frames):
  """Dequantized [T, 12] frames, rgb then audio (the dataset's formula)."""
  return records.dequantize(np.concatenate([frames["rgb"], frames["audio"]],
                                           axis=1))


def _scores(model, matrix, length):
  padded = np.zeros((1, max(length, 1), 12), np.float32)
  padded[0, :length] = matrix[:length]
  return model({"video_matrix": tf.constant(padded),
                "num_frames": tf.constant([length])})["predictions"].numpy()[
                    0, WHITELIST]


@pytest.fixture(name="setup", scope="module")
def _setup(tmp_path_factory):
  """(tmp dir, data path, segment model dir, whitelist path, expected
  segment ids [N], segment scores [N, W], whole-video scores [N, W])."""
  root = tmp_path_factory.mktemp("rerank")
  videos = _videos()
  path = records.write(root / "test.tfrecord", [
      records.frame_record(f"v{i}", [], frames)
      for i, frames in enumerate(videos)])
  whitelist = root / "ids.csv"
  whitelist.write_text("Index\n" + "\n".join(map(str, WHITELIST)) + "\n")
  train_dir, model = _model_dir(root / "model", 0)
  ids, segment, video = [], [], []
  for i, frames in enumerate(videos):
    matrix = _float(frames)
    whole = _scores(model, matrix, len(matrix))
    for start in range(0, len(matrix), 5):
      ids.append(f"v{i}:{start}")
      segment.append(_scores(model, matrix[start:],
                             min(5, len(matrix) - start)))
      video.append(whole)
  return (root, path, train_dir, str(whitelist), ids, np.array(segment),
          np.array(video))


def _infer(setup, name, **kwargs):
  root, path, train_dir, whitelist = setup[:4]
  out = str(root / name)
  segment_inference.infer_segments(segment_inference.SegmentInferenceConfig(
      train_dir=train_dir, input_data_pattern=path, output_file=out,
      segment_label_ids_file=whitelist, batch_size=4, **kwargs))
  with open(out) as f:
    text = f.read()
  rows = {int(line.split(",")[0]): line.split(",")[1].split()
          for line in text.splitlines()[1:]}
  return text, rows


@pytest.mark.slow
def test_weight_zero_is_todays_file_byte_for_byte(setup):
  plain, _ = _infer(setup, "plain.csv")
  zero, _ = _infer(setup, "zero.csv", video_prior_weight=0.0)
  assert zero == plain
  blended, _ = _infer(setup, "blend.csv", video_prior_weight=0.5)
  assert blended != plain


@pytest.mark.parametrize("weight", [0.3, 1.0])
@pytest.mark.slow
def test_blended_ranking_equals_numpy(setup, weight):
  ids, segment, video = setup[4:]
  _, rows = _infer(setup, f"b{weight}.csv", video_prior_weight=weight)
  score = (video.astype(np.float64) ** weight *
           segment.astype(np.float64) ** (1 - weight)).astype(np.float32)
  for n, cls in enumerate(WHITELIST):
    order = np.argsort(-score[:, n], kind="stable")
    assert rows[cls] == [ids[i] for i in order]


@pytest.mark.slow
def test_fill_takes_whole_videos_by_video_score(setup):
  ids, segment, video = setup[4:]
  _, rows = _infer(setup, "fill.csv", fill_from_video_ranking=True,
                   segment_max_pred=6)
  videos = np.array([s.split(":")[0] for s in ids])
  for n, cls in enumerate(WHITELIST):
    # Videos by their whole-video score, whole, until 6 segments.
    ranked = sorted(dict.fromkeys(videos), key=lambda v: -video[
        list(videos).index(v), n])
    taken, count = set(), 0
    for v in ranked:
      if count >= 6:
        break
      taken.add(v)
      count += int(np.sum(videos == v))
    allowed = np.isin(videos, list(taken))
    order = [i for i in np.argsort(-segment[:, n], kind="stable")
             if allowed[i]][:6]
    assert rows[cls] == [ids[i] for i in order]
  # With room for every segment, filling changes nothing.
  _, everything = _infer(setup, "all.csv", fill_from_video_ranking=True)
  _, plain = _infer(setup, "plain2.csv")
  assert everything == plain


def test_fill_candidates_by_hand():
  scores = np.array([[0.9, 0.1], [0.5, 0.5], [0.5, 0.8]], np.float32)
  segments = np.array([3, 2, 4])
  # Class 0: videos 0 (3), then 1 (tie with 2: reading order) -> 5 >= 4.
  # Class 1: video 2 (4) -> 4 >= 4.
  np.testing.assert_array_equal(
      segment_rerank.fill_candidates(scores, segments, 4),
      [[True, False], [True, False], [False, True]])
  assert segment_rerank.fill_candidates(scores, segments, 100).all()


@pytest.mark.slow
def test_a_separate_video_model_gives_the_prior(setup, tmp_path):
  root, _, _, _, ids, segment, _ = setup
  prior_dir, prior = _model_dir(tmp_path / "prior", 7)
  _, rows = _infer(setup, "prior.csv", video_prior_weight=0.5,
                   video_prior_train_dir=prior_dir)
  # The prior model's whole-video scores of the written records.
  reader_scores = {}
  batch = next(iter(readers.make_dataset(
      builders.make_reader(model_config.load(prior_dir)),
      str(root / "test.tfrecord"), 10)))
  whole = prior(batch)["predictions"].numpy()[:, WHITELIST]
  for v, row in zip(batch["video_ids"].numpy(), whole):
    reader_scores[v.decode()] = row
  video = np.array([reader_scores[s.split(":")[0]] for s in ids])
  score = (np.sqrt(video.astype(np.float64)) *
           np.sqrt(segment.astype(np.float64))).astype(np.float32)
  for n, cls in enumerate(WHITELIST):
    assert rows[cls] == [ids[i] for i in np.argsort(-score[:, n],
                                                    kind="stable")]


def test_bad_weight_is_named(setup):
  with pytest.raises(utils.Yt8mError, match="--video_prior_weight=1.5"):
    _infer(setup, "bad.csv", video_prior_weight=1.5)
