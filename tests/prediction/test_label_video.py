"""label_video: videos -> the extractor's records in memory -> top classes.

Stand-in networks (tests/support/media.py) and tiny models with random
weights (tests/support/tiny.py): what is checked is that label_video reads
exactly the features extract_features writes and scores them as the
project's readers and predictors do, and what it prints and draws.
"""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import plots
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.features import extraction_pipeline
from youtube8m.models import builders
from youtube8m.prediction import inference_lib
from youtube8m.prediction import label_video_lib
from youtube8m.prediction import timeline
from youtube8m.serving import predictors

from support import media
from support import one_line
from support import tiny

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NAMES = ["Cat", "Dog", "Pok\u00e9mon", "Association football", "Vehicle",
         "Guitar"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("label")
  models = str(root / "models")
  media.inception_graph(models)
  media.pca_files(models)
  cat = str(root / "cat.mkv")  # 23 s: segments at 0, 5, 10, 15, 20
  media.write_video(cat, colors=[media.COLORS[(i // 3) % 5]
                                 for i in range(23)], fps=2)
  dog = str(root / "dog.mp4")
  media.write_video(dog, colors=media.COLORS[2:5])
  frame = tiny.video_flags(model="FrameLevelLogisticModel",
                           frame_features=True, feature_names="rgb,audio",
                           feature_sizes="1024,128")
  frame_dir, _ = tiny.checkpoint_dir(root / "frame_model", frame, scale=30.0)
  video = tiny.video_flags(feature_names="mean_rgb,mean_audio",
                           feature_sizes="1024,128")
  video_dir, _ = tiny.checkpoint_dir(root / "video_model", video, scale=30.0)
  vocabulary = root / "vocabulary.csv"
  vocabulary.write_text("Index,Name\n" + "".join(
      f"{i},{name}\n" for i, name in enumerate(NAMES)), encoding="utf-8")
  extractor = extraction_pipeline.Extractor.from_model_dir(models,
                                                           download=False)
  return dict(root=root, models=models, cat=cat, dog=dog, frame=frame_dir,
              video=video_dir, vocabulary=str(vocabulary),
              extractor=extractor)


def _config(**values):
  return label_video_lib.LabelConfig(**values)


def _features(setup, videos):
  with contextlib.closing(extraction_pipeline.video_features(
      [(v, []) for v in videos], setup["extractor"])) as results:
    return list(results)


def _records(path):
  return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


@pytest.mark.parametrize("level", ["frame", "video"])
@pytest.mark.slow
def test_the_model_reads_what_extract_features_writes(setup, level):
  model = label_video_lib.VideoModel(_config(train_dir=setup[level]))
  model.check_features()
  videos = [setup["cat"], setup["dog"]]
  out = setup["root"] / f"{level}.tfrecord"
  extraction_pipeline.extract([(v, []) for v in videos], setup["extractor"],
                              str(out), frame_level=level == "frame",
                              report=lambda line: None)
  labels = [label_video_lib.label(model, setup["extractor"], features)
            for features in _features(setup, videos)]
  # The record in memory is the extracted one, byte for byte: extraction is
  # deterministic (network batches cut at fixed places, map keys sorted:
  # see test_extract_features, "whatever the timing").
  assert [l.record for l in labels] == _records(out)
  assert [l.frames for l in labels] == [23, 3]
  # Whole-video scores: those of the predictor reading the file.
  predictor = predictors.make_predictor(inference_lib.InferenceConfig(
      train_dir=setup[level], top_k=6))
  ((ids, classes, scores),) = list(predictor.batches(str(out), 8))
  assert [v.decode() for v in ids] == videos
  for row, l in enumerate(labels):
    np.testing.assert_allclose(l.scores[classes[row]], scores[row],
                               rtol=1e-5)
    np.testing.assert_array_equal(
        label_video_lib.top_classes(l.scores, 6), classes[row])
  if level == "video":
    assert labels[0].segment_scores is None
    return
  # Segments: the segment reader's cut of the file, scored by the model.
  np.testing.assert_array_equal(labels[0].segment_starts, [0, 5, 10, 15, 20])
  np.testing.assert_array_equal(labels[1].segment_starts, [0])
  reader = builders.make_reader(predictor.flags, segment_labels=True,
                                all_segments=True)
  (batch,) = list(readers.make_dataset(reader, str(out), 16))
  expected = predictor.model(batch, training=False)["predictions"].numpy()
  np.testing.assert_allclose(np.concatenate(
      [l.segment_scores for l in labels]), expected, rtol=1e-5, atol=1e-6)
  # The segments of the cat video differ (its colours change over time).
  assert np.ptp(labels[0].segment_scores, axis=0).max() > 0.01


def test_models_that_cannot_label_videos_are_one_line_errors(setup):
  root = setup["root"]
  with pytest.raises(utils.Yt8mError, match="give the model") as e:
    label_video_lib.VideoModel(_config())
  one_line.message(e.value)
  empty = root / "empty"
  empty.mkdir()
  with pytest.raises(utils.Yt8mError, match="no model_flags.json") as e:
    label_video_lib.VideoModel(_config(train_dir=str(empty)))
  one_line.message(e.value)
  (empty / "model_flags.json").write_text(
      open(os.path.join(setup["frame"], "model_flags.json")).read())
  with pytest.raises(utils.Yt8mError, match="no checkpoint in --train_dir") as e:
    label_video_lib.VideoModel(_config(train_dir=str(empty)))
  one_line.message(e.value)
  other, _ = tiny.checkpoint_dir(root / "mean_rgb_8", tiny.video_flags())
  model = label_video_lib.VideoModel(_config(train_dir=other))
  with pytest.raises(utils.Yt8mError) as raised:
    model.check_features()
  assert one_line.message(raised.value).startswith(
      f"the model (checkpoint {other}/ckpt-7) reads mean_rgb of 8 values, "
      "which videos do not give: the extracted video-level features are "
      "mean_rgb (1024), mean_audio (128)")


def _png_size(series_count):
  """(height, width) in pixels of a timeline of series_count classes."""
  fig = timeline.figure("x", [0], [timeline.Series("a", 0.5, [0.5])] *
                        series_count)
  width, height = fig.get_size_inches() * fig.dpi
  return int(round(height)), int(round(width))


def test_timeline_picture():
  starts = np.arange(0, 25, 5)
  series = [timeline.Series(f"{name} ({i})", 0.9 - i / 10,
                            np.linspace(0.1 * i, 1 - 0.1 * i, 5))
            for i, name in enumerate(NAMES[:4])]
  fig = timeline.figure("cat.mkv", starts, series, end_seconds=23)
  (ax,) = fig.axes
  assert ax.get_xlim() == (0, 23) and ax.get_title(loc="left") == "cat.mkv"
  steps, marks = ax.lines[0::2], ax.lines[1::2]
  for i, line in enumerate(series):
    # A segment's score holds over the segment; the last one ends at 23 s.
    np.testing.assert_array_equal(steps[i].get_xdata(), [0, 5, 10, 15, 20,
                                                         23])
    np.testing.assert_allclose(steps[i].get_ydata(),
                               np.append(line.values, line.values[-1]))
    np.testing.assert_allclose(marks[i].get_xdata(), [2.5, 7.5, 12.5, 17.5,
                                                      21.5])
    assert steps[i].get_color() == marks[i].get_color() == plots.color(i)
  (legend,) = fig.legends
  assert [t.get_text() for t in legend.get_texts()] == [
      f"{name} ({i})  (video score {0.9 - i / 10:.3f})"
      for i, name in enumerate(NAMES[:4])]
  png = timeline.png("cat.mkv", starts, series, end_seconds=23)
  assert png[:8] == b"\x89PNG\r\n\x1a\n"
  image = tf.io.decode_png(png, channels=3).numpy()
  assert image.shape[:2] == _png_size(4) == (int(340 + 4 * 24), 800)
  # Each class's colour is drawn (lines, markers and the legend's sample).
  for i in range(4):
    rgb = [int(plots.color(i)[k:k + 2], 16) for k in (1, 3, 5)]
    assert (np.abs(image.astype(int) - rgb).max(axis=2) < 8).sum() > 300, i
  # Long titles lose their middle; minutes:seconds past 10 minutes.
  fig = timeline.figure("a" * 200 + ".mp4: model", np.arange(0, 1500, 5),
                        [series[0]._replace(values=np.zeros(300))])
  title = fig.axes[0].get_title(loc="left")
  assert len(title) < 80 and title.endswith(".mp4: model")
  fig.canvas.draw()
  ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()
           if 0 <= t.get_position()[0] <= 1500]
  assert ticks[:3] == ["0:00", "5:00", "10:00"]


def test_timeline_needs_matplotlib_and_says_how_to_get_it(monkeypatch):
  settings.validate(_config(timeline_png="t.png"))
  monkeypatch.setitem(sys.modules, "matplotlib", None)  # not installed
  settings.validate(_config())  # no picture asked for: fine
  with pytest.raises(utils.Yt8mError) as raised:
    settings.validate(_config(timeline_png="t.png"))
  assert str(raised.value) == (
      "--timeline_png='t.png' is invalid: drawing it needs matplotlib, which "
      "is not installed: pip install 'youtube8m[plots]' (or pip install "
      "matplotlib) in the environment that runs it")


@pytest.mark.slow
def test_cli_prints_a_block_a_video_and_draws_them(setup, tmp_path):
  png = tmp_path / "out" / "{video}.png"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  result = subprocess.run(
      [sys.executable, "-m", "youtube8m.label_video",
       f"--train_dir={setup['frame']}", f"--model_dir={setup['models']}",
       f"--vocabulary_file={setup['vocabulary']}", "--top_k=3",
       f"--timeline_png={png}", setup["cat"], str(tmp_path / "missing.mp4"),
       setup["dog"]], capture_output=True, text=True, env=env, cwd=REPO,
      timeout=120)
  assert result.returncode == 1, result.stderr
  lines = result.stdout.splitlines()
  assert lines[0].startswith("model: FrameLevelLogisticModel (frame level) "
                             f"from checkpoint {setup['frame']}/ckpt-7; no "
                             "VGGish model")
  assert lines[1].startswith("note: the model reads audio, which is zeros")
  cat = lines.index(f"{setup['cat']}: 23 frames (1 a second), zero audio")
  assert lines[cat + 1] == "  top 3 classes (score, class):"
  assert all(line.startswith("    0.") for line in lines[cat + 2:cat + 5])
  assert lines[cat + 5] == ("  5-second segments (start, best 3 classes):")
  assert [line[4:8] for line in lines[cat + 6:cat + 11]] == [
      "0:00", "0:05", "0:10", "0:15", "0:20"]
  assert lines[cat + 11] == f"  timeline: {tmp_path / 'out' / 'cat.png'}"
  assert f"{setup['dog']}: 3 frames (1 a second), zero audio" in lines
  assert any(name in result.stdout for name in NAMES)
  stderr = result.stderr.strip().splitlines()
  assert f"skipped {tmp_path / 'missing.mp4'}: cannot open: not found" in (
      stderr)
  assert stderr[-1] == ("error: 1 of 3 videos could not be read (listed "
                        "above); the other 2 were labelled")
  assert sorted(os.listdir(tmp_path / "out")) == ["cat.png", "dog.png"]
  image = tf.io.decode_png((tmp_path / "out" / "cat.png").read_bytes())
  assert image.shape[:2] == _png_size(5)
  assert len(np.unique(image.numpy().reshape(-1, image.shape[2]),
                       axis=0)) > 5


def test_timeline_file_names():
  paths = label_video_lib.timeline_paths
  assert paths("/t/x.png", ["/v/cat.mp4"]) == ["/t/x.png"]
  assert paths("/t/{video}.png", ["/v/cat.mp4", "/w/cat.mkv", "a b.webm"]) == [
      "/t/cat.png", "/t/cat-2.png", "/t/a_b.png"]
  assert paths("/t/x.png", ["/v/cat.mp4", "dog.mp4"]) == [
      "/t/x-cat.png", "/t/x-dog.png"]


@pytest.mark.slow
def test_a_saved_model_scores_as_its_checkpoint(setup):
  from youtube8m.serving import \
      export  # pylint: disable=import-outside-toplevel
  exported = export.export_checkpoint(export.ExportConfig(
      train_dir=setup["frame"], output_dir=str(setup["root"] / "sm")))
  (features,) = _features(setup, [setup["cat"]])
  got = [label_video_lib.label(label_video_lib.VideoModel(config),
                               setup["extractor"], features)
         for config in (_config(train_dir=setup["frame"]),
                        _config(saved_model_dir=exported))]
  assert got[0].record == got[1].record
  np.testing.assert_allclose(got[1].scores, got[0].scores, rtol=1e-5)
  np.testing.assert_allclose(got[1].segment_scores, got[0].segment_scores,
                             rtol=1e-5, atol=1e-6)


def _script(args, cwd):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  result = subprocess.run([sys.executable, *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)
  assert result.returncode == 0, (args[:2], result.stderr[-3000:])
  return result.stdout


@pytest.mark.slow
def test_fine_tuning_recipe(tmp_path):
  """docs/own_videos.md's recipe, command by command, on generated videos.

  The stand-in "YouTube-8M model" is a frame-level logistic model over the
  3862 classes with random weights; red clips are labelled Guitar (9),
  blue ones Car (7).
  """
  media.inception_graph(str(tmp_path / "yt8m"))
  media.pca_files(str(tmp_path / "yt8m"))
  rng = np.random.RandomState(0)

  def clip(path, colors):
    noisy = [np.clip(np.asarray(c) + rng.randint(-20, 21, 3), 0, 255)
             for c in colors]
    media.write_video(path, colors=[tuple(int(v) for v in c) for c in noisy],
                      fps=5)

  red, blue = (230, 30, 20), (20, 40, 230)
  (tmp_path / "videos").mkdir()
  for split, numbers in (("train", range(6)), ("validate", range(6, 8))):
    rows = []
    for i in numbers:
      path = tmp_path / "videos" / f"{split}{i}.mp4"
      label, color = (9, red) if i % 2 == 0 else (7, blue)
      clip(path, [color] * (6 + i))
      rows.append(f"{path},{label}\n")
    (tmp_path / f"{split}.csv").write_text("".join(rows))
  clip(tmp_path / "videos" / "guitar_then_car.mp4", [red] * 12 + [blue] * 13)
  flags = tiny.video_flags(model="FrameLevelLogisticModel",
                           frame_features=True, feature_names="rgb,audio",
                           feature_sizes="1024,128", num_classes=3862)
  tiny.checkpoint_dir(tmp_path / "yt8m_model", flags, step=1000)

  for split in ("train", "validate"):
    _script(["-m", "youtube8m.extract_features",
             f"--input_videos_csv={split}.csv",
             f"--output_tfrecords_file=features/{split}.tfrecord",
             "--model_dir=yt8m"], tmp_path)
  _script([os.path.join(REPO, "train.py"), "--init_from_checkpoint=yt8m_model",
           "--train_dir=tuned", "--train_data_pattern=features/train.tfrecord",
           "--batch_size=6", "--base_learning_rate=0.1", "--num_epochs=5"],
          tmp_path)
  _script([os.path.join(REPO, "eval.py"),
           "--eval_data_pattern=features/validate.tfrecord",
           "--train_dir=tuned", "--run_once"], tmp_path)
  _script([os.path.join(REPO, "inference.py"),
           "--input_data_pattern=features/validate.tfrecord",
           "--train_dir=tuned", "--output_file=predictions.csv", "--top_k=3"],
          tmp_path)
  rows = (tmp_path / "predictions.csv").read_text().splitlines()[1:]
  best = {row.split(",")[0]: int(row.split(",")[1].split()[0])
          for row in rows}
  assert best == {str(tmp_path / "videos" / "validate6.mp4"): 9,
                  str(tmp_path / "videos" / "validate7.mp4"): 7}
  out = _script(["-m", "youtube8m.label_video", "--train_dir=tuned",
                 "--model_dir=yt8m", "videos/guitar_then_car.mp4",
                 "--timeline_png=guitar_then_car.png"], tmp_path)
  lines = out.splitlines()
  segments = lines[lines.index("  5-second segments (start, best 3 "
                               "classes):") + 1:][:5]
  best = [line.split()[1] for line in segments]
  # 0:10-0:15 holds the change from guitar to car: either may lead there,
  # but both must be its top two.
  assert best[:2] == ["Guitar", "Guitar"] and best[3:] == ["Car", "Car"], out
  assert {"Guitar", "Car"} <= set(segments[2].replace("|", " ").split()), out
  image = tf.io.decode_png((tmp_path / "guitar_then_car.png").read_bytes())
  assert image.shape[:2] == _png_size(5)
