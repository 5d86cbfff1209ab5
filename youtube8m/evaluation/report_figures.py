"""The evaluation report's figures, drawn with matplotlib.

`pr_curve` draws the exact precision-recall curve of the pooled top-k list
(eval_report.ranked_pr_curve) as steps, its area shaded: that area is the
GAP. `ap_histogram` draws how many classes fall in each AP bin, the MAP
marked. Both return matplotlib Figures (common/plots.py: no display); the
report embeds them as inline PNGs.
"""

import numpy as np

from youtube8m.common import plots

CURVE_POINTS = 2000  # positives drawn; the GAP printed is exact
HISTOGRAM_BINS = 20
_BLUE, _RED = plots.COLORS[0], plots.COLORS[3]
# Above the plot, right of its title: it never hides the data.
_LEGEND = dict(loc="lower right", bbox_to_anchor=(1, 1), frameon=False,
               fontsize=9, borderaxespad=0.2)


def _subsample(recall, precision, most=CURVE_POINTS):
  """At most `most` of the curve's points, evenly spaced in recall (each
  positive adds 1 / P), always keeping the last."""
  if recall.size <= most:
    return recall, precision
  keep = np.unique(np.linspace(0, recall.size - 1, most).astype(int))
  return recall[keep], precision[keep]


def pr_curve(recall, precision, gap, top_k):
  """The pooled list's precision at each positive, as steps.

  Args:
    recall, precision: float [H] at the H positives in rank order
      (eval_report.ranked_pr_curve): precision[j] holds on the recall
      interval (recall[j - 1], recall[j]].
    gap: the GAP, printed (the shaded area, up to the order of ties).
    top_k: predictions per video, for the labels.
  """
  fig = plots.figure(6.4, 4.0)
  ax = fig.add_subplot()
  if recall.size:
    recall, precision = _subsample(np.asarray(recall, np.float64),
                                   np.asarray(precision, np.float64))
    x = np.concatenate([[0.0], recall])
    y = np.concatenate([precision[:1], precision])
    ax.fill_between(x, y, step="pre", color=_BLUE, alpha=0.25, linewidth=0)
    ax.step(x, y, where="pre", color=_BLUE, linewidth=1.8)
    ax.axvline(recall[-1], color=_RED, linestyle="--", linewidth=1.2,
               label=f"positives in some top {top_k}: {recall[-1]:.1%}")
    ax.legend(**_LEGEND)
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1.02)
  ax.grid(True, color="#e4e4e4")
  ax.set_axisbelow(True)
  ax.set_xlabel("recall (over all positives)")
  ax.set_ylabel("precision")
  ax.set_title(f"GAP@{top_k} = {gap:.4f} (the shaded area)", loc="left",
               fontsize=11)
  return fig


def ap_histogram(aps, mean_ap):
  """Classes per AP bin of width 1 / HISTOGRAM_BINS, the MAP marked.

  Args:
    aps: float [C] APs of the classes with positives (no NaN).
    mean_ap: their mean, the MAP.
  """
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  fig = plots.figure(6.4, 3.3)
  ax = fig.add_subplot()
  ax.hist(np.asarray(aps, np.float64), bins=HISTOGRAM_BINS, range=(0, 1),
          color=_BLUE, edgecolor="white", linewidth=0.8)
  ax.axvline(mean_ap, color=_RED, linestyle="--", linewidth=1.2,
             label=f"MAP {mean_ap:.4f}")
  ax.legend(**_LEGEND)
  ax.set_xlim(0, 1)
  ax.yaxis.set_major_locator(ticker.MaxNLocator(6, integer=True))
  ax.grid(True, axis="y", color="#e4e4e4")
  ax.set_axisbelow(True)
  ax.set_xlabel("average precision")
  ax.set_ylabel("classes")
  ax.set_title(f"{len(aps)} classes with positives", loc="left", fontsize=11)
  return fig
