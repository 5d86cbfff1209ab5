"""eval_report.py: TensorBoard figures of eval.py and the HTML report."""

import base64
import dataclasses
import datetime
import html.parser
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
import tensorflow as tf

from youtube8m.common import plots
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import eval_report
from youtube8m.evaluation import eval_util
from youtube8m.evaluation import report_figures
from youtube8m.evaluation import score_lib

from support import tiny

# The shipped 2018 vocabulary's first names (the tiny model's 6 classes).
NAMES = ["Game", "Video game", "Vehicle", "Concert", "Musician", "Cartoon"]


def _metrics(num_videos=300, num_classes=40, top_k=20, seed=0):
  """An EvaluationMetrics of a fairly good synthetic model, and its get()."""
  rng = np.random.default_rng(seed)
  labels = rng.random((num_videos, num_classes)) < 0.06
  # A class-dependent signal, so per-class APs spread out.
  strength = np.linspace(0.05, 0.9, num_classes)
  scores = rng.random((num_videos, num_classes)) * 0.6 + strength * labels
  metrics = eval_util.EvaluationMetrics(num_classes, top_k)
  for part in np.array_split(np.arange(num_videos), 3):
    metrics.accumulate(scores[part], labels[part], loss=0.5)
  return metrics, metrics.get()


def test_ranked_curve_area_is_the_gap_and_thresholds_count():
  evaluation, metrics = _metrics()
  scores, ids, positive, class_positives = evaluation.pooled()
  assert scores.shape == ids.shape == positive.shape == (300 * 20,)
  total = int(class_positives.sum())
  recall, precision = eval_report.ranked_pr_curve(scores, positive, total)
  assert np.sum(precision) / total == pytest.approx(metrics["gap"])
  assert recall[-1] == pytest.approx(np.count_nonzero(positive) / total)
  curve = eval_report.threshold_pr_curve(scores, positive, total, 11)
  for i, threshold in enumerate(np.linspace(0, 1, 11)):
    above = scores >= threshold
    tp, fp = np.sum(above & positive), np.sum(above & ~positive)
    np.testing.assert_allclose(curve[:, i], [
        tp, fp, np.sum(~above & ~positive), total - tp,
        tp / max(tp + fp, 1e-7), tp / total], rtol=1e-6)


def test_class_tables_best_worst_and_ties():
  aps = np.array([0.5, np.nan, 0.9, 0.5, 0.1])
  names = {0: "zero", 2: "two", 3: "", 4: "four"}
  positives = np.array([3, 0, 2, 3, 4])
  (title, rows, notes), = eval_report.class_tables(aps, positives, names)
  assert title == "All 4 classes by AP" and notes == []
  # The tie at 0.5: equal positives too, so the lower id comes first.
  assert [r[0] for r in rows] == [2, 0, 3, 4]
  assert rows[2] == (3, "?", 0.5, 3, 2)  # an empty name shows as ?; 2 tied
  best, worst = eval_report.class_tables(aps, positives, names, count=1)
  assert best == ("Best 1 classes by AP", [(2, "two", 0.9, 2, 1)], [])
  assert worst == ("Worst 1 classes by AP", [(4, "four", 0.1, 4, 1)], [])
  text = eval_report.markdown_tables([best, worst], 4)
  assert "| 1 | 2 | two | 0.9000 | 2 | 1 |" in text
  assert "(of 4 classes with positives)" in text


def test_tied_classes_rank_by_positives_and_are_counted():
  """A small evaluation set: many classes at exactly AP 1.0 and 0.0."""
  rng = np.random.default_rng(0)
  num_classes = 60
  aps = np.full(num_classes, np.nan)
  aps[:25] = 1.0  # classes 0-24 perfect
  aps[25:50] = 0.0  # classes 25-49 never found
  aps[50:] = np.linspace(0.2, 0.8, 10)
  positives = rng.permutation(num_classes) + 1
  names = {c: f"c{c}" for c in range(num_classes)}
  best, worst = eval_report.class_tables(aps, positives, names, count=10)
  # Not the lowest ids: the classes with the most positives among the tied.
  perfect = sorted(range(25), key=lambda c: -positives[c])[:10]
  missed = sorted(range(25, 50), key=lambda c: -positives[c])[:10]
  assert [r[0] for r in best.rows] == perfect
  assert [r[0] for r in worst.rows] == missed
  assert [r[3] for r in best.rows] == sorted(positives[:25], reverse=True)[:10]
  assert {r[4] for r in best.rows} == {25} and {r[4] for r in worst.rows} == {
      25}
  assert best.notes == ["25 classes have AP 1.0000; the 10 shown are those "
                        "with the most positives."]
  assert worst.notes == ["25 classes have AP 0.0000; the 10 shown are those "
                         "with the most positives."]
  text = eval_report.markdown_tables([best, worst], 60)
  assert "25 classes have AP 0.0000" in text
  assert text.endswith(eval_report.TIE_RULE)


def test_vocabulary_defaults_by_class_count(tmp_path):
  assert eval_report.label_names("", 3862)[1] == "Video game"
  assert eval_report.label_names("", 4716)[1] == "Vehicle"  # 2017 ids
  path = tmp_path / "v.csv"
  path.write_text("label_id,label_name\n0,zero\n")
  assert eval_report.label_names(str(path), 6) == {0: "zero"}


def _events(directory):
  """{tag: (plugin name, ndarray)} of the last value of each tag."""
  out = {}
  for path in sorted(tf.io.gfile.glob(os.path.join(directory, "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        out[value.tag] = (value.metadata.plugin_data.plugin_name,
                          tf.make_ndarray(value.tensor), event.step)
  return out


@pytest.mark.slow
def test_eval_writes_figures_to_tensorboard_and_the_report(tmp_path):
  path, videos = tiny.video_file(tmp_path / "val.tfrecord", count=12)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", step=7)
  config = eval_lib.EvalConfig(
      train_dir=train_dir, eval_data_pattern=path, batch_size=5,
      run_once=True, top_k=3, report_file=str(tmp_path / "r-{step}.html"))
  metrics = eval_lib.evaluate(config)
  events = _events(os.path.join(train_dir, "eval"))
  # Scalars: TF2 writers store them as tensors (docs/evaluation.md).
  assert events["GAP"][0] == "scalars" and events["GAP"][2] == 7
  assert float(events["GAP"][1]) == pytest.approx(metrics["gap"])
  plugin, curve, _ = events[eval_report.PR_CURVE_TAG]
  assert plugin == "pr_curves" and curve.shape == (6, 201)
  # Recall at threshold 0: every pooled positive over all positives.
  positives = sum(len(labels) for labels, _ in videos.values())
  assert curve[3, 0] + curve[0, 0] == positives  # fn + tp = P
  assert events[eval_report.HISTOGRAM_TAG][0] == "histograms"
  counts = events[eval_report.HISTOGRAM_TAG][1][:, 2]
  assert counts.sum() == metrics["num_classes_with_positives"]
  plugin, text, _ = events[eval_report.TABLE_TAG]
  text = text.item().decode()
  assert plugin == "text" and "| class | name | AP |" in text
  best = int(np.nanargmax(metrics["aps"]))
  assert f"| 1 | {best} | {NAMES[best]} | {metrics['aps'][best]:.4f} |" in text
  # TensorBoard's own reader sees a PR curve, a histogram and a text.
  accumulator = event_accumulator.EventAccumulator(
      os.path.join(train_dir, "eval"), size_guidance={"tensors": 0})
  accumulator.Reload()
  assert eval_report.PR_CURVE_TAG in accumulator.PluginTagToContent(
      "pr_curves")
  assert accumulator.Tensors("GAP")[0].step == 7
  report = (tmp_path / "r-7.html").read_text()
  assert f'data-value="{metrics["gap"]!r}"' in report
  # The page says what it describes.
  page = _Page()
  page.feed(report)
  assert page.title == "YouTube-8M evaluation: LogisticModel, step 7"
  assert page.about == {
      "model": "LogisticModel", "train_dir": train_dir,
      "checkpoint": f"{os.path.join(train_dir, 'ckpt-7')} (step 7)",
      "data": path, "num_videos": "12", "date": page.about["date"],
      "command": eval_report.command_line()}
  written = datetime.datetime.strptime(page.about["date"],
                                       "%Y-%m-%d %H:%M:%S UTC")
  now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
  assert abs((now - written).total_seconds()) < 600


class _Page(html.parser.HTMLParser):
  """Collects the elements of the report that a person would look at."""

  def __init__(self):
    super().__init__()
    self.tags, self.images, self.metrics, self.about = [], {}, {}, {}
    self.cells, self.notes, self.title = [], [], None
    self.tables = {}  # class tables: {h3 title: [[cell text, ...] a row]}
    self._h3 = None
    self._field = None  # (kind, key) of the element whose text is read

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    self.tags.append((tag, attrs))
    if tag == "img":
      self.images[attrs["id"]] = attrs
    if tag == "td":
      self._field = ("about", attrs["data-about"]) if (
          "data-about" in attrs) else ("td", None)
      if "data-metric" in attrs:
        self.metrics[attrs["data-metric"]] = float(attrs["data-value"])
    if tag == "p" and attrs.get("class") == "note":
      self._field = ("note", None)
    if tag in ("h1", "h3"):
      self._field = (tag, None)
    if tag == "tr" and self._h3:
      self.tables[self._h3].append([])

  def handle_endtag(self, tag):
    if tag in ("td", "p", "h1", "h3"):
      self._field = None
    if tag == "table":
      self._h3 = None

  def handle_data(self, data):
    kind, key = self._field or (None, None)
    if kind == "about":
      self.about[key] = data
    elif kind == "td":
      self.cells.append(data)
      if self._h3:
        self.tables[self._h3][-1].append(data)
    elif kind == "note":
      self.notes.append(data)
    elif kind == "h1":
      self.title = data
    elif kind == "h3":
      self._h3 = data
      self.tables[data] = []


def _png(img):
  """The decoded RGB pixels [H, W, 3] of an inline PNG <img>."""
  prefix = "data:image/png;base64,"
  assert img["src"].startswith(prefix)
  data = base64.b64decode(img["src"][len(prefix):])
  return tf.io.decode_png(data, channels=3).numpy()


def _has_color(image, hex_color, least=500):
  rgb = [int(hex_color[k:k + 2], 16) for k in (1, 3, 5)]
  return (np.abs(image.astype(int) - rgb).max(axis=2) < 12).sum() >= least


def test_report_figures_show_the_curve_and_the_histogram():
  evaluation, metrics = _metrics()
  scores, _, positive, class_positives = evaluation.pooled()
  total = int(class_positives.sum())
  recall, precision = eval_report.ranked_pr_curve(scores, positive, total)
  fig = report_figures.pr_curve(recall, precision, metrics["gap"], 20)
  (ax,) = fig.axes
  steps = ax.lines[0]
  x, y = steps.get_xdata(), steps.get_ydata()
  # Precision held over each recall step: the area under the steps is the
  # GAP (no tied scores here), and the curve ends at the pooled recall.
  assert np.sum(np.diff(x) * y[1:]) == pytest.approx(metrics["gap"])
  assert x[-1] == pytest.approx(np.count_nonzero(positive) / total)
  assert ax.lines[1].get_xdata()[0] == pytest.approx(x[-1])  # dashed limit
  assert ax.get_title(loc="left") == f"GAP@20 = {metrics['gap']:.4f} (the "\
      "shaded area)"
  aps = metrics["aps"][~np.isnan(metrics["aps"])]
  fig = report_figures.ap_histogram(aps, metrics["map"])
  (ax,) = fig.axes
  heights = [p.get_height() for p in ax.patches]
  np.testing.assert_array_equal(heights, np.histogram(aps, 20, (0, 1))[0])
  assert ax.lines[0].get_xdata()[0] == pytest.approx(metrics["map"])


def test_report_page_embeds_figures_names_and_numbers(tmp_path):
  evaluation, metrics = _metrics()
  names = eval_report.label_names("", 3862)
  eval_report.summarize(evaluation, metrics, 12, None, "",
                        str(tmp_path / "report.html"),
                        eval_report.ReportInfo(model="MoeModel",
                                               checkpoint="run/ckpt-12",
                                               data="val*.tfrecord"))
  text = (tmp_path / "report.html").read_text()
  page = _Page()
  page.feed(text)
  assert page.title == "YouTube-8M evaluation: MoeModel, step 12"
  assert page.about["checkpoint"] == "run/ckpt-12 (step 12)"
  assert page.about["num_videos"] == "300" and "train_dir" not in page.about
  assert list(page.images) == ["pr-curve", "ap-histogram"]
  for key in ("gap", "avg_hit_at_one", "avg_perr", "map", "avg_loss"):
    assert page.metrics[key] == metrics[key]
  # The figures: PNGs drawn at twice their shown size, in the figures' blue.
  for img in page.images.values():
    image = _png(img)
    assert image.shape[:2] == (2 * int(img["height"]), 2 * int(img["width"]))
    assert _has_color(image, plots.COLORS[0]), img["id"]
  assert page.images["pr-curve"]["alt"].endswith(f"GAP {metrics['gap']:.4f}")
  best = int(np.nanargmax(metrics["aps"]))
  worst = int(np.nanargmin(metrics["aps"]))
  assert names[best] in page.cells and names[worst] in page.cells
  assert f"{metrics['aps'][best]:.4f}" in page.cells
  assert eval_report.TIE_RULE in page.notes
  # Self-contained: no resource but the inline images.
  assert "href" not in text and "http" not in text
  assert [a["src"][:22] for t, a in page.tags if "src" in a] == [
      "data:image/png;base64,"] * 2
  assert not list(tmp_path.glob("*yt8m-tmp*"))  # written atomically


def test_report_page_counts_ties(tmp_path):
  """Few videos: many classes at AP exactly 1.0 or 0.0, as in the issue."""
  rng = np.random.default_rng(1)
  num_videos, num_classes = 40, 100
  labels = np.zeros([num_videos, num_classes], bool)
  labels[np.arange(num_videos), rng.integers(0, num_classes, num_videos)] = 1
  labels[np.arange(num_videos), rng.integers(0, num_classes, num_videos)] = 1
  # A good guess for half of the classes, a wrong one for the others.
  scores = rng.random([num_videos, num_classes]) * 0.5
  scores += labels * (np.arange(num_classes) % 2 == 0)
  evaluation = eval_util.EvaluationMetrics(num_classes, 5)
  evaluation.accumulate(scores, labels, loss=0.1)
  metrics = evaluation.get()
  aps = metrics["aps"]
  perfect = np.flatnonzero(aps == 1.0)
  missed = np.flatnonzero(aps == 0.0)
  assert len(perfect) > 10 and len(missed) > 10  # the case of the issue
  report = tmp_path / "ties.html"
  eval_report.summarize(evaluation, metrics, 3, None, "", str(report))
  page = _Page()
  page.feed(report.read_text())
  assert page.about["command"] == eval_report.command_line()
  assert f"{len(perfect)} classes have AP 1.0000; the 10 shown are those " \
      "with the most positives." in page.notes
  assert f"{len(missed)} classes have AP 0.0000; the 10 shown are those " \
      "with the most positives." in page.notes
  # The tables' rows (rank, class, name, AP, positives, classes at this
  # AP): the tied classes with the most positives, each row counting its tie.
  positives = labels.sum(axis=0)
  for title, tied in (("Best 10 classes by AP", perfect),
                      ("Worst 10 classes by AP", missed)):
    rows = page.tables[title][1:]  # under the header row
    expected = sorted(tied, key=lambda c: (-positives[c], c))[:10]
    assert [int(row[1]) for row in rows] == expected, title
    assert [int(row[4]) for row in rows] == list(positives[expected])
    assert {row[5] for row in rows} == {str(len(tied))}


def _browser():
  return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(not _browser(), reason="no chromium for the screenshot "
                    "(apt-get install chromium)")
def test_report_shows_its_figures_in_a_browser(tmp_path):
  evaluation, metrics = _metrics()
  report = tmp_path / "report.html"
  eval_report.summarize(evaluation, metrics, 12, None, "", str(report))
  shot = tmp_path / "shot.png"
  subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                  "--hide-scrollbars", f"--screenshot={shot}",
                  "--window-size=1200,1600", f"file://{report}"],
                 check=True, capture_output=True, timeout=120)
  image = tf.io.decode_png(shot.read_bytes()).numpy()[..., :3].astype(int)
  assert image.shape[:2] == (1600, 1200)
  assert image.std() > 20, "the screenshot is blank"
  # The figures' blue (the curve, the histogram bars) is on the page.
  assert _has_color(image, plots.COLORS[0], least=5000)
  if os.environ.get("YT8M_KEEP_SCREENSHOT"):
    shutil.copy(shot, os.environ["YT8M_KEEP_SCREENSHOT"])


def test_a_report_without_matplotlib_is_a_one_line_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "matplotlib", None)  # not installed
  for config in (eval_lib.EvalConfig(eval_data_pattern="v*.tfrecord"),
                 score_lib.ScoreConfig(predictions="p.csv", labels="l.csv")):
    settings.validate(config)  # no report asked for: fine
    with pytest.raises(utils.Yt8mError) as raised:
      settings.validate(dataclasses.replace(config, report_file="r.html"))
    assert str(raised.value).startswith(
        "--report_file='r.html' is invalid: drawing it needs matplotlib, "
        "which is not installed: pip install 'youtube8m[plots]'")
