"""Evaluation you can look at: TensorBoard figures, a self-contained HTML page.

For one evaluation pass (an eval_util.EvaluationMetrics holding the pooled
top-k entries, and the metrics dict its get() returned) this writes

  * to TensorBoard (`write_summaries`): `GAP_PR_curve`, the precision-recall
    curve of the pooled top-k list (pr_curves plugin); `class_AP`, a
    histogram of the per-class APs; `class_AP_table`, a markdown table of the
    best and worst classes by AP with their label names;
  * `--report_file` (`write_report`): one HTML page that says what it
    describes (ReportInfo: model, train_dir, checkpoint and step, data,
    number of videos, date, the command), the metrics, the exact PR curve
    and an AP histogram drawn with matplotlib (report_figures.py) as inline
    PNGs, and the best and worst classes with their ties counted. No
    external resource: it opens anywhere without TensorBoard. It is written
    atomically (outputs.write_file).

Recall in both curves is over ALL positives, also those outside every top-k
list, as in GAP: the exact curve's area is the GAP (up to the order of tied
scores), and it ends at the share of positives that made it into some
video's top k.
"""

import collections
import dataclasses
import datetime
import functools
import html
import os
import shlex
import sys

from absl import logging
import numpy as np
from tensorboard.plugins.pr_curve import metadata as pr_metadata
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import plots
from youtube8m.common import utils
from youtube8m.evaluation import report_figures

PR_CURVE_TAG = "GAP_PR_curve"
HISTOGRAM_TAG = "class_AP"
TABLE_TAG = "class_AP_table"
PR_THRESHOLDS = 201  # the pr_curves plugin's default: steps of 0.005
TABLE_ROWS = 10
_HISTOGRAM_BINS = report_figures.HISTOGRAM_BINS


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

  return threshold_rows(at_or_above(scores[positive]),
                        at_or_above(scores[~positive]),
                        np.count_nonzero(~positive), total_positives)


def threshold_rows(positives_at, negatives_at, negatives, total_positives):
  """`threshold_pr_curve`'s array from the counts of pooled entries scored
  at or above each threshold ([T] each) and the pooled negatives."""
  tp = np.asarray(positives_at, np.float64)
  fp = np.asarray(negatives_at, np.float64)
  tn = negatives - fp
  fn = total_positives - tp
  # The plugin's own guard against 0 / 0.
  precision = tp / np.maximum(tp + fp, 1e-7)
  recall = tp / np.maximum(total_positives, 1e-7)
  return np.stack([tp, fp, tn, fn, precision, recall]).astype(np.float32)


# A class table: its title, rows (class, name, AP, positives, tied: the
# number of classes with exactly this AP) and notes on its ties.
ClassTable = collections.namedtuple("ClassTable", "title rows notes")

TIE_RULE = ("Classes with equal AP are ranked by their number of positives "
            "(more first; then the lower class id); 'classes at this AP' "
            "counts all classes that share the row's AP.")


def _tie_notes(rows, tied_counts):
  """Notes for the APs that more classes share than the table shows."""
  shown = collections.Counter(ap for _, _, ap, _, _ in rows)
  return [f"{tied_counts[ap]} classes have AP {ap:.4f}; the {count} shown "
          "are those with the most positives."
          for ap, count in shown.items() if tied_counts[ap] > count]


def class_tables(aps, class_positives, names, count=TABLE_ROWS):
  """[ClassTable]: the best and worst `count` classes by AP.

  Only classes with positives have an AP; when there are at most 2 * count
  of them, one table lists them all. APs are often tied (many classes at
  exactly 1.0 or 0.0 on a small evaluation set), so equal APs are ranked by
  the number of positives (more first: an AP of 1.0 over 30 positives says
  more than over 1, and a class at 0.0 with many positives is the worst
  miss), then by class id; each row says how many classes share its AP.
  """
  rated = np.flatnonzero(~np.isnan(aps))
  tied_counts = collections.Counter(float(aps[c]) for c in rated)
  rows = [(int(c), names.get(int(c), "") or "?", float(aps[c]),
           int(class_positives[c]), tied_counts[float(aps[c])])
          for c in rated]
  best = sorted(rows, key=lambda r: (-r[2], -r[3], r[0]))
  if len(rows) <= 2 * count:
    return [ClassTable(f"All {len(rows)} classes by AP", best,
                       _tie_notes(best, tied_counts))]
  worst = sorted(rows, key=lambda r: (r[2], -r[3], r[0]))[:count]
  return [ClassTable(f"Best {count} classes by AP", best[:count],
                     _tie_notes(best[:count], tied_counts)),
          ClassTable(f"Worst {count} classes by AP", worst,
                     _tie_notes(worst, tied_counts))]


def markdown_tables(tables, num_rated):
  """The TensorBoard text summary: the class tables in markdown."""
  parts = []
  for title, rows, notes in tables:
    lines = [f"**{title}** (of {num_rated} classes with positives)", "",
             "| rank | class | name | AP | positives | classes at this AP |",
             "|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {n} | {c} | {name.replace('|', '&#124;')} | {ap:.4f} | "
              f"{p} | {tied} |" for n, (c, name, ap, p, tied) in
              enumerate(rows, 1)]
    lines += [""] + notes if notes else []
    parts.append("\n".join(lines))
  return "\n\n".join(parts + [TIE_RULE])


def write_summaries(writer, step, evaluation_metrics, metrics, names):
  """The PR curve, AP histogram and class table of one pass, at `step`."""
  curves = evaluation_metrics.curves(np.linspace(0.0, 1.0, PR_THRESHOLDS), 0)
  class_positives = evaluation_metrics.class_positives
  aps = metrics["aps"]
  total = curves["total_positives"]
  with writer.as_default(step=step):
    # pr_curve's summary ops build TF1 graph ops, which TF2 eager writers
    # cannot run; the data it stores is a plain [6, T] tensor with this
    # metadata, so tf.summary.write stores the same thing.
    tf.summary.write(
        PR_CURVE_TAG,
        threshold_rows(curves["positives_at"], curves["negatives_at"],
                       curves["entries"] - curves["positive_entries"], total),
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


# ----------------------------------------------------------------- HTML ---


def command_line():
  """The command that is running, as a shell would take it back."""
  argv = getattr(sys, "orig_argv", None)  # Python 3.10+: with "-m module"
  if not argv:
    argv = [os.path.basename(sys.executable)] + sys.argv
  else:
    argv = [os.path.basename(argv[0])] + list(argv[1:])
  return shlex.join(argv)


def _now():
  return datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M:%S UTC")


@dataclasses.dataclass
class ReportInfo:
  """What a report describes, shown at the top of its page.

  Empty fields are left out (the scorer knows no model or checkpoint; a
  notebook may know neither), except `date` and `command`: empty, they are
  the time the page is written and the running command line.
  """
  model: str = ""  # the model's class, e.g. LogisticModel
  train_dir: str = ""
  checkpoint: str = ""  # the checkpoint evaluated (its step: the page's)
  data: str = ""  # eval.py's --eval_data_pattern
  predictions: str = ""  # score's --predictions
  labels: str = ""  # score's --labels
  date: str = ""
  command: str = ""


# (field, label) in the order the page lists them.
_INFO_ROWS = (("model", "Model"), ("train_dir", "train_dir"),
              ("checkpoint", "Checkpoint"), ("data", "Data"),
              ("predictions", "Predictions"), ("labels", "Labels"))

_STYLE = """
body{font-family:sans-serif;margin:2em auto;max-width:900px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
td.name,th.name{text-align:left}
table.about td{text-align:left;font-family:monospace;overflow-wrap:anywhere}
table.about th{text-align:left;white-space:nowrap}
p.note{color:#555;font-size:90%}
img{display:block;max-width:100%;height:auto;margin:.5em 0 1em}
"""


def _about_table(info, step, num_videos):
  rows = []
  for key, label in _INFO_ROWS:
    value = getattr(info, key)
    if value:
      if key == "checkpoint":
        value = f"{value} (step {step})"
      rows.append((key, label, value))
  rows += [("num_videos", "Videos", str(num_videos)),
           ("date", "Date", info.date or _now()),
           ("command", "Command", info.command or command_line())]
  cells = "".join(f'<tr><th>{label}</th><td data-about="{key}">'
                  f"{html.escape(str(value))}</td></tr>"
                  for key, label, value in rows if value)
  return f'<table class="about">{cells}</table>'


def _class_table(table):
  cells = "".join(
      f'<tr><td>{n}</td><td>{c}</td><td class="name">{html.escape(name)}'
      f'</td><td data-value="{ap!r}">{ap:.4f}</td><td>{p}</td>'
      f"<td>{tied}</td></tr>"
      for n, (c, name, ap, p, tied) in enumerate(table.rows, 1))
  notes = "".join(f'<p class="note">{html.escape(note)}</p>'
                  for note in table.notes)
  return (f"<h3>{html.escape(table.title)}</h3><table><tr><th>rank</th>"
          "<th>class</th><th class='name'>name</th><th>AP</th>"
          f"<th>positives</th><th>classes at this AP</th></tr>{cells}"
          f"</table>{notes}")


def _title(info, step):
  if info.model and info.checkpoint:
    return f"YouTube-8M evaluation: {info.model}, step {step}"
  if info.predictions:
    return f"YouTube-8M evaluation of {os.path.basename(info.predictions)}"
  return f"YouTube-8M evaluation, step {step}"


def render_html(evaluation_metrics, metrics, names, step, info=None):
  """The report page as a string (see the module docstring).

  info: a ReportInfo (default: only the date and command are known).
  """
  info = info or ReportInfo()
  # Figure data in flat memory (the pooled entries stay out of memory).
  curves = evaluation_metrics.curves(None, report_figures.CURVE_POINTS)
  class_positives = evaluation_metrics.class_positives
  top_k, total = evaluation_metrics.top_k, curves["total_positives"]
  ranked, found_at = curves["curve"].T
  recall, precision = found_at / max(total, 1), found_at / np.maximum(ranked,
                                                                      1)
  aps = metrics["aps"]
  rated = aps[~np.isnan(aps)]
  rows = [("GAP@%d" % top_k, "gap"), ("Hit@1", "avg_hit_at_one"),
          ("PERR", "avg_perr"), ("MAP", "map")]
  if "avg_loss" in metrics:  # the scorer has none
    rows.append(("mean loss", "avg_loss"))
  cells = "".join(f'<tr><th class="name">{label}</th><td data-metric="{key}" '
                  f'data-value="{metrics[key]!r}">{metrics[key]:.4f}</td></tr>'
                  for label, key in rows)
  found = curves["positive_entries"]
  title = html.escape(_title(info, step))
  parts = [
      "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
      f"<title>{title}</title>",
      f"<style>{_STYLE}</style></head><body>",
      f"<h1>{title}</h1>",
      _about_table(info, step, metrics["num_examples"]),
      f"<p>{metrics['num_examples']} videos, {total} positive labels, "
      f"{metrics['num_classes_with_positives']} classes with positives, "
      f"top {top_k} predictions per video.</p>",
      f"<table>{cells}</table>",
      f"<h2>Precision-recall of the pooled top-{top_k} predictions</h2>",
      f"<p>Every video's top {top_k} (class, score) pairs ranked together by "
      f"score. Recall counts all {total} positives; {found} of them "
      f"({found / max(total, 1):.1%}) are in some top {top_k} (dashed "
      "line), so the curve ends there.</p>",
      plots.html_img(report_figures.pr_curve(recall, precision,
                                             metrics["gap"], top_k),
                     f"Precision-recall of the pooled top-{top_k} "
                     f"predictions, GAP {metrics['gap']:.4f}", "pr-curve")]
  if rated.size:
    parts += [
        "<h2>Per-class average precision</h2>",
        f"<p>{rated.size} classes with positives; AP over each class's "
        f"entries among the top-{top_k} lists. MAP is their mean.</p>",
        plots.html_img(report_figures.ap_histogram(rated, metrics["map"]),
                       f"Per-class AP of {rated.size} classes, MAP "
                       f"{metrics['map']:.4f}", "ap-histogram"),
        f'<p class="note">{html.escape(TIE_RULE)}</p>']
    parts += [_class_table(table) for table in
              class_tables(aps, class_positives, names)]
  parts.append("</body></html>\n")
  return "\n".join(parts)


def write_report(path, text):
  """Writes the page whole or not at all (local or gs://)."""
  outputs.write_file(path, lambda f: f.write(text))


def summarize(evaluation_metrics, metrics, step, writer=None,
              vocabulary_file="", report_file="", info=None):
  """TensorBoard figures (if writer) and the report (if report_file).

  A "{step}" in report_file is replaced by the step, for one page per
  checkpoint; otherwise each checkpoint's page replaces the last. info: the
  ReportInfo shown at the top of the page.
  """
  if writer is None and not report_file:
    return
  names = label_names(vocabulary_file, evaluation_metrics.num_class)
  if writer is not None:
    write_summaries(writer, step, evaluation_metrics, metrics, names)
  if report_file:
    path = report_file.replace("{step}", str(step))
    write_report(path, render_html(evaluation_metrics, metrics, names, step,
                                   info))
    logging.info("Wrote the evaluation report %s", path)
