"""Evaluation you can look at: TensorBoard figures, a self-contained HTML page.

For one evaluation pass (an eval_util.EvaluationMetrics holding the pooled
top-k entries, and the metrics dict its get() returned) this writes

  * to TensorBoard (`write_summaries`): `GAP_PR_curve`, the precision-recall
    curve of the pooled top-k list (pr_curves plugin); `class_AP`, a
    histogram of the per-class APs; `class_AP_table`, a markdown table of the
    best and worst classes by AP with their label names;
  * `--report_file` (`write_report`): the same as one HTML page, figures as
    inline SVG, no external resource, so it opens anywhere without
    TensorBoard. It is written atomically (outputs.write_file).

Recall in both curves is over ALL positives, also those outside every top-k
list, as in GAP: the exact curve's area is the GAP (up to the order of tied
scores), and it ends at the share of positives that made it into some
video's top k.
"""

import functools
import html

from absl import logging
import numpy as np
from tensorboard.plugins.pr_curve import metadata as pr_metadata
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import utils

PR_CURVE_TAG = "GAP_PR_curve"
HISTOGRAM_TAG = "class_AP"
TABLE_TAG = "class_AP_table"
PR_THRESHOLDS = 201  # the pr_curves plugin's default: steps of 0.005
TABLE_ROWS = 10
_HISTOGRAM_BINS = 20
_CURVE_POINTS = 500  # steps drawn in the SVG; the GAP itself is exact


@functools.lru_cache(maxsize=4)
def label_names(path, num_classes):
  """{class id: name}; path "" picks the shipped vocabulary of num_classes.

  The 2017 classes (4716) have other ids than the 2018 ones (3862), so a
  4716-class model gets label_names_2017.csv.
  """
  if not path:
    path = utils.data_path("label_names_2017.csv" if num_classes == 4716
                           else "vocabulary.csv")
  return utils.load_vocabulary(path)


def ranked_pr_curve(scores, positive, total_positives):
  """Precision at each positive of the pooled list ranked by score.

  Args:
    scores, positive: [N] pooled entries; equal scores are drawn in input
      order (eval_util's GAP averages over their orders instead).
    total_positives: P, all positives (also those outside the lists).

  Returns:
    (recall [H], precision [H]) float64 at the H positives in rank order:
    recall j/P, precision j/rank. Without tied scores sum(precision) / P is
    the GAP.
  """
  order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
  hit_ranks = np.flatnonzero(np.asarray(positive, bool)[order]) + 1
  found = np.arange(1, hit_ranks.size + 1)
  return found / max(total_positives, 1), found / hit_ranks


def threshold_pr_curve(scores, positive, total_positives,
                       num_thresholds=PR_THRESHOLDS):
  """The pr_curves plugin's [6, T] float32 array at thresholds i / (T - 1).

  Rows: true positives, false positives, true negatives, false negatives,
  precision, recall of the entries scored >= each threshold. Negatives are
  the pooled list's; false negatives include positives outside the lists.
  """
  scores = np.asarray(scores, np.float64)
  positive = np.asarray(positive, bool)
  thresholds = np.linspace(0.0, 1.0, num_thresholds)

  def at_or_above(values):
    values = np.sort(values)
    return values.size - np.searchsorted(values, thresholds, side="left")

  tp = at_or_above(scores[positive]).astype(np.float64)
  fp = at_or_above(scores[~positive]).astype(np.float64)
  tn = np.count_nonzero(~positive) - fp
  fn = total_positives - tp
  # The plugin's own guard against 0 / 0.
  precision = tp / np.maximum(tp + fp, 1e-7)
  recall = tp / np.maximum(total_positives, 1e-7)
  return np.stack([tp, fp, tn, fn, precision, recall]).astype(np.float32)


def class_tables(aps, class_positives, names, count=TABLE_ROWS):
  """[(title, rows)]: the best and worst `count` classes by AP.

  Rows are (class, name, AP, positives). Only classes with positives have an
  AP; when there are at most 2 * count of them, one table lists them all.
  Equal APs list the lower class id first, so the tables are deterministic.
  """
  rated = np.flatnonzero(~np.isnan(aps))
  rows = [(int(c), names.get(int(c), "") or "?", float(aps[c]),
           int(class_positives[c])) for c in rated]
  best = sorted(rows, key=lambda r: (-r[2], r[0]))
  if len(rows) <= 2 * count:
    return [(f"All {len(rows)} classes by AP", best)]
  worst = sorted(rows, key=lambda r: (r[2], r[0]))[:count]
  return [(f"Best {count} classes by AP", best[:count]),
          (f"Worst {count} classes by AP", worst)]


def markdown_tables(tables, num_rated):
  """The TensorBoard text summary: the class tables in markdown."""
  parts = []
  for title, rows in tables:
    lines = [f"**{title}** (of {num_rated} classes with positives)", "",
             "| rank | class | name | AP | positives |",
             "|---:|---:|---|---:|---:|"]
    lines += [f"| {n} | {c} | {name.replace('|', '&#124;')} | {ap:.4f} | "
              f"{p} |" for n, (c, name, ap, p) in enumerate(rows, 1)]
    parts.append("\n".join(lines))
  return "\n\n".join(parts)


def write_summaries(writer, step, evaluation_metrics, metrics, names):
  """The PR curve, AP histogram and class table of one pass, at `step`."""
  scores, _, positive, class_positives = evaluation_metrics.pooled()
  aps = metrics["aps"]
  total = int(class_positives.sum())
  with writer.as_default(step=step):
    # pr_curve's summary ops build TF1 graph ops, which TF2 eager writers
    # cannot run; the data it stores is a plain [6, T] tensor with this
    # metadata, so tf.summary.write stores the same thing.
    tf.summary.write(
        PR_CURVE_TAG,
        threshold_pr_curve(scores, positive, total),
        metadata=pr_metadata.create_summary_metadata(
            display_name=PR_CURVE_TAG,
            description=(f"Pooled top-{evaluation_metrics.top_k} predictions;"
                         " recall over all positives"),
            num_thresholds=PR_THRESHOLDS).SerializeToString())
    rated = aps[~np.isnan(aps)]
    if rated.size:
      tf.summary.histogram(HISTOGRAM_TAG, rated, buckets=_HISTOGRAM_BINS)
      tf.summary.text(TABLE_TAG, markdown_tables(
          class_tables(aps, class_positives, names), rated.size))
  writer.flush()


# ------------------------------------------------------------------ SVG ---

class _Plot:
  """Maps data coordinates to an SVG plot area and draws its axes."""

  def __init__(self, width, height, y_max=1.0, margin=(20, 20, 50, 64)):
    self.width, self.height, self.y_max = width, height, y_max
    self.top, self.right, self.bottom, self.left = margin

  def x(self, value):  # data x in [0, 1]
    return self.left + value * (self.width - self.left - self.right)

  def y(self, value):
    span = self.height - self.top - self.bottom
    return self.height - self.bottom - value / self.y_max * span

  def axes(self, x_label, y_label, y_ticks):
    parts = []
    for v in np.linspace(0, 1, 6):
      parts.append(f'<line class="grid" x1="{self.x(v):.1f}" y1="{self.y(0)}"'
                   f' x2="{self.x(v):.1f}" y2="{self.y(self.y_max)}"/>'
                   f'<text x="{self.x(v):.1f}" y="{self.y(0) + 18}" '
                   f'text-anchor="middle">{v:.1f}</text>')
    for v in y_ticks:
      label = f"{v:.1f}" if self.y_max <= 1 else f"{v:g}"
      parts.append(f'<line class="grid" x1="{self.x(0)}" y1="{self.y(v):.1f}"'
                   f' x2="{self.x(1)}" y2="{self.y(v):.1f}"/>'
                   f'<text x="{self.x(0) - 8}" y="{self.y(v) + 4:.1f}" '
                   f'text-anchor="end">{label}</text>')
    parts.append(
        f'<rect class="frame" x="{self.x(0)}" y="{self.y(self.y_max)}" '
        f'width="{self.x(1) - self.x(0)}" height="{self.y(0) - self.top}"/>'
        f'<text x="{(self.x(0) + self.x(1)) / 2}" y="{self.height - 10}" '
        f'text-anchor="middle">{x_label}</text>'
        f'<text transform="translate(16 {(self.y(0) + self.top) / 2}) '
        f'rotate(-90)" text-anchor="middle">{y_label}</text>')
    return "".join(parts)

  def svg(self, element_id, title, body):
    return (f'<svg id="{element_id}" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}"'
            f' role="img"><title>{html.escape(title)}</title>{body}</svg>')


def pr_curve_svg(recall, precision, gap, top_k):
  """The exact PR curve of the pooled list as a step plot, area = GAP."""
  plot = _Plot(640, 410, margin=(30, 20, 50, 64))
  body = plot.axes("recall (over all positives)", "precision",
                   np.linspace(0, 1, 6))
  if recall.size:
    # Evenly spaced positives are evenly spaced in recall.
    keep = np.unique(np.linspace(0, recall.size - 1,
                                 min(recall.size, _CURVE_POINTS)).astype(int))
    left = np.concatenate(([0.0], recall[keep][:-1]))
    points = [(plot.x(0), plot.y(0))]
    for x0, x1, p in zip(left, recall[keep], precision[keep]):
      points += [(plot.x(x0), plot.y(p)), (plot.x(x1), plot.y(p))]
    points.append((plot.x(recall[-1]), plot.y(0)))
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    body += (f'<polygon class="area" points="{text}"/>'
             f'<polyline class="curve" points="{text}"/>'
             f'<line class="limit" x1="{plot.x(recall[-1]):.1f}" '
             f'y1="{plot.y(0)}" x2="{plot.x(recall[-1]):.1f}" '
             f'y2="{plot.y(1)}"/>')
  body += (f'<text class="note" x="{plot.x(1)}" y="{plot.top - 8}" '
           f'text-anchor="end">GAP@{top_k} = {gap:.4f} (shaded area)</text>')
  return plot.svg("pr-curve", f"Precision-recall of the pooled top-{top_k} "
                  f"predictions, GAP {gap:.4f}", body)


def histogram_svg(aps, mean_ap):
  """Classes per AP bin (width 1/20), with the MAP marked."""
  counts, edges = np.histogram(aps, bins=_HISTOGRAM_BINS, range=(0.0, 1.0))
  top = max(int(counts.max(initial=0)), 1)
  step = max(1, int(np.ceil(top / 5)))
  plot = _Plot(640, 320, y_max=step * int(np.ceil(top / step)),
               margin=(30, 20, 50, 64))
  body = plot.axes("average precision", "classes",
                   range(0, int(plot.y_max) + 1, step))
  for count, lo, hi in zip(counts, edges[:-1], edges[1:]):
    if count:
      body += (f'<rect class="bar" data-count="{count}" x="{plot.x(lo):.1f}" '
               f'y="{plot.y(count):.1f}" '
               f'width="{plot.x(hi) - plot.x(lo) - 1:.1f}" '
               f'height="{plot.y(0) - plot.y(count):.1f}"/>')
  body += (f'<line class="limit" x1="{plot.x(mean_ap):.1f}" y1="{plot.y(0)}" '
           f'x2="{plot.x(mean_ap):.1f}" y2="{plot.y(plot.y_max)}"/>'
           f'<text class="note" x="{plot.x(mean_ap):.1f}" '
           f'y="{plot.top - 8}" text-anchor="middle">MAP {mean_ap:.4f}</text>')
  return plot.svg("ap-histogram", f"Per-class AP of {len(aps)} classes", body)


# ----------------------------------------------------------------- HTML ---

_STYLE = """
body{font-family:sans-serif;margin:2em auto;max-width:900px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
td.name,th.name{text-align:left}
svg text{font-size:12px;fill:#333}
.grid{stroke:#e4e4e4}.frame{fill:none;stroke:#888}
.area{fill:#4a90d9;fill-opacity:.25;stroke:none}
.curve{fill:none;stroke:#1f5fa8;stroke-width:2}
.limit{stroke:#c0392b;stroke-dasharray:5 4}.bar{fill:#4a90d9}
.note{font-weight:bold}
"""


def _class_table(title, rows):
  cells = "".join(
      f'<tr><td>{n}</td><td>{c}</td><td class="name">{html.escape(name)}'
      f'</td><td data-value="{ap!r}">{ap:.4f}</td><td>{p}</td></tr>'
      for n, (c, name, ap, p) in enumerate(rows, 1))
  return (f"<h3>{title}</h3><table><tr><th>rank</th><th>class</th>"
          f'<th class="name">name</th><th>AP</th><th>positives</th></tr>'
          f"{cells}</table>")


def render_html(evaluation_metrics, metrics, names, step, source=""):
  """The report page as a string (see the module docstring)."""
  scores, _, positive, class_positives = evaluation_metrics.pooled()
  top_k, total = evaluation_metrics.top_k, int(class_positives.sum())
  recall, precision = ranked_pr_curve(scores, positive, total)
  aps = metrics["aps"]
  rated = aps[~np.isnan(aps)]
  rows = [("GAP@%d" % top_k, "gap"), ("Hit@1", "avg_hit_at_one"),
          ("PERR", "avg_perr"), ("MAP", "map")]
  if "avg_loss" in metrics:  # the scorer has none
    rows.append(("mean loss", "avg_loss"))
  cells = "".join(f'<tr><th class="name">{label}</th><td data-metric="{key}" '
                  f'data-value="{metrics[key]!r}">{metrics[key]:.4f}</td></tr>'
                  for label, key in rows)
  found = int(np.count_nonzero(positive))
  parts = [
      "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
      f"<title>YouTube-8M evaluation, step {step}</title>",
      f"<style>{_STYLE}</style></head><body>",
      f"<h1>YouTube-8M evaluation, step {step}</h1>",
      f"<p>{html.escape(source) + ': ' if source else ''}"
      f"{metrics['num_examples']} videos, {total} positive labels, "
      f"{metrics['num_classes_with_positives']} classes with positives, "
      f"top {top_k} predictions per video.</p>",
      f"<table>{cells}</table>",
      f"<h2>Precision-recall of the pooled top-{top_k} predictions</h2>",
      f"<p>Every video's top {top_k} (class, score) pairs ranked together by "
      f"score. Recall counts all {total} positives; {found} of them "
      f"({found / max(total, 1):.1%}) are in some top {top_k} (dashed "
      "line), so the curve ends there.</p>",
      pr_curve_svg(recall, precision, metrics["gap"], top_k)]
  if rated.size:
    parts += [
        "<h2>Per-class average precision</h2>",
        f"<p>{rated.size} classes with positives; AP over each class's "
        f"entries among the top-{top_k} lists. MAP is their mean.</p>",
        histogram_svg(rated, metrics["map"])]
    parts += [_class_table(title, rows) for title, rows in
              class_tables(aps, class_positives, names)]
  parts.append("</body></html>\n")
  return "\n".join(parts)


def write_report(path, text):
  """Writes the page whole or not at all (local or gs://)."""
  outputs.write_file(path, lambda f: f.write(text))


def summarize(evaluation_metrics, metrics, step, writer=None,
              vocabulary_file="", report_file="", source=""):
  """TensorBoard figures (if writer) and the report (if report_file).

  A "{step}" in report_file is replaced by the step, for one page per
  checkpoint; otherwise each checkpoint's page replaces the last.
  """
  if writer is None and not report_file:
    return
  names = label_names(vocabulary_file, evaluation_metrics.num_class)
  if writer is not None:
    write_summaries(writer, step, evaluation_metrics, metrics, names)
  if report_file:
    path = report_file.replace("{step}", str(step))
    write_report(path, render_html(evaluation_metrics, metrics, names, step,
                                   source))
    logging.info("Wrote the evaluation report %s", path)
