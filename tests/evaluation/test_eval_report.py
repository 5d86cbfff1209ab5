"""eval_report.py: TensorBoard figures of eval.py and the HTML report."""

import html.parser
import os
import shutil
import subprocess

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
import tensorflow as tf

from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import eval_report
from youtube8m.evaluation import eval_util

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
  (title, rows), = eval_report.class_tables(aps, np.arange(5), names)
  assert title == "All 4 classes by AP"
  assert [r[0] for r in rows] == [2, 0, 3, 4]  # the tie: lower id first
  assert rows[2] == (3, "?", 0.5, 3)  # an empty name shows as ?
  best, worst = eval_report.class_tables(aps, np.arange(5), names, count=1)
  assert best == ("Best 1 classes by AP", [(2, "two", 0.9, 2)])
  assert worst == ("Worst 1 classes by AP", [(4, "four", 0.1, 4)])
  text = eval_report.markdown_tables([best, worst], 4)
  assert "| 1 | 2 | two | 0.9000 | 2 |" in text
  assert "(of 4 classes with positives)" in text


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


class _Page(html.parser.HTMLParser):
  """Collects the elements of the report that a person would look at."""

  def __init__(self):
    super().__init__()
    self.tags, self.svgs, self.bars, self.metrics = [], [], [], {}
    self.cells, self._metric, self._in_td = [], None, False

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    self.tags.append((tag, attrs))
    if tag == "svg":
      self.svgs.append(attrs["id"])
    if tag == "rect" and attrs.get("class") == "bar":
      self.bars.append(int(attrs["data-count"]))
    if tag == "td":
      self._in_td = True
      if "data-metric" in attrs:
        self.metrics[attrs["data-metric"]] = float(attrs["data-value"])

  def handle_endtag(self, tag):
    self._in_td = self._in_td and tag != "td"

  def handle_data(self, data):
    if self._in_td:
      self.cells.append(data)


def test_report_page_embeds_figures_names_and_numbers(tmp_path):
  evaluation, metrics = _metrics()
  names = eval_report.label_names("", 3862)
  eval_report.summarize(evaluation, metrics, 12, None, "",
                        str(tmp_path / "report.html"), source="unit test")
  text = (tmp_path / "report.html").read_text()
  page = _Page()
  page.feed(text)
  assert page.svgs == ["pr-curve", "ap-histogram"]
  for key in ("gap", "avg_hit_at_one", "avg_perr", "map", "avg_loss"):
    assert page.metrics[key] == metrics[key]
  assert sum(page.bars) == metrics["num_classes_with_positives"] == 40
  # The curve: one polygon and polyline of in-range points.
  polyline = next(a for t, a in page.tags if t == "polyline")
  points = np.array([p.split(",") for p in polyline["points"].split()], float)
  assert len(points) > 50 and (points >= 0).all()
  assert f"GAP@20 = {metrics['gap']:.4f}" in text
  best = int(np.nanargmax(metrics["aps"]))
  worst = int(np.nanargmin(metrics["aps"]))
  assert names[best] in page.cells and names[worst] in page.cells
  assert f"{metrics['aps'][best]:.4f}" in page.cells
  # Self-contained: no external resource of any kind.
  assert "http" not in text and "src=" not in text and "href" not in text
  assert not list(tmp_path.glob("*yt8m-tmp*"))  # written atomically


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
  # The figures' blue (the PR area, the histogram bars) is on the page.
  blue = (image[..., 2] > 180) & (image[..., 0] < 120)
  assert blue.sum() > 5000
  if os.environ.get("YT8M_KEEP_SCREENSHOT"):
    shutil.copy(shot, os.environ["YT8M_KEEP_SCREENSHOT"])
