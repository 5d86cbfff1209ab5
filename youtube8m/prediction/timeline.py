"""A picture of class scores over a video's time (matplotlib, PNG).

`figure(title, starts, series)` draws each class's segment scores as a
step line: a segment's score holds from its start to its end (the next
start, or the video's end), with a marker in the segment's middle, so a
change is drawn where the segments say it is. x: time in the video (seconds,
or minutes:seconds past 10 minutes); y: score 0 to 1. A legend below the
plot gives each class's colour, name and whole-video score. `png` returns
the PNG bytes of that figure.
"""

import collections

import numpy as np

from youtube8m.common import plots

WIDTH_INCHES = 8.0  # 800 pixels wide
_PLOT_INCHES = 3.4  # the axes, title and x label
_LEGEND_ROW_INCHES = 0.24
_MARKERS = "osD^vP*Xph"  # a second cue besides colour
_TITLE_CHARACTERS = 76  # what fits the width at 12 points
_MOST_MARKERS = 40  # a line's markers; more would hide the line

# One class's line: its name, whole-video score and scores [N] by segment.
Series = collections.namedtuple("Series", "name score values")


def _minutes(seconds, _=None):
  seconds = int(round(seconds))
  return f"{seconds // 60}:{seconds % 60:02d}"


def _minute_step(span, most_ticks=10):
  """Whole minutes between ticks: the least of 1, 2, 5, 10, 15, 30, 60, ...
  minutes giving at most most_ticks ticks."""
  for step in (60, 120, 300, 600, 900, 1800, 3600):
    if span / step <= most_ticks:
      return step
  return 3600 * int(np.ceil(span / 3600 / most_ticks))


def _short(text, limit=_TITLE_CHARACTERS):
  """text, its middle cut out when too long (both ends tell the most)."""
  if len(text) <= limit:
    return text
  head = (limit - 1) // 2
  return text[:head] + "\u2026" + text[len(text) - (limit - 1 - head):]


def figure(title, starts, series, segment_seconds=5, end_seconds=None):
  """The timeline as a matplotlib Figure.

  Args:
    title: drawn above the plot (cut to fit).
    starts: segment start seconds [N], ascending.
    series: Series, one line each, in legend order; values [N] in [0, 1].
    segment_seconds: the length of a segment.
    end_seconds: where the x axis ends (the video's length); default the
      end of the last segment.
  """
  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  from matplotlib import legend_handler
  from matplotlib import ticker
  # pylint: enable=g-import-not-at-top,import-outside-toplevel
  starts = np.asarray(starts, np.float64)
  if end_seconds is None:
    end_seconds = starts.max() + segment_seconds if starts.size else 0
  span = float(max(end_seconds, starts.max() if starts.size else 0, 1))
  # Each segment ends at the next start, the last at its length (or the
  # video's end, when that comes first).
  ends = np.minimum(np.append(starts[1:], starts[-1:] + segment_seconds),
                    span) if starts.size else starts
  fig = plots.figure(WIDTH_INCHES, _PLOT_INCHES +
                     _LEGEND_ROW_INCHES * max(1, len(series)))
  ax = fig.add_subplot()
  handles, labels = [], []
  for index, line in enumerate(series):
    values = np.clip(np.nan_to_num(np.asarray(line.values, np.float64)), 0, 1)
    if not values.size:
      continue
    (steps,) = ax.step(np.append(starts, ends[-1]),
                       np.append(values, values[-1]), where="post",
                       color=plots.color(index), linewidth=2)
    (marks,) = ax.plot((starts + ends) / 2, values, linestyle="none",
                       marker=_MARKERS[index % len(_MARKERS)], markersize=5,
                       color=plots.color(index),
                       markevery=max(1, len(values) // _MOST_MARKERS))
    handles.append((steps, marks))  # the legend shows both, overlaid
    labels.append(f"{line.name}  (video score {line.score:.3f})")
  ax.set_xlim(0, span)
  ax.set_ylim(0, 1.02)
  ax.yaxis.set_major_locator(ticker.MultipleLocator(0.25))
  ax.grid(True, color="#e0e0e0")
  ax.set_axisbelow(True)
  if span < 600:
    ax.xaxis.set_major_locator(ticker.MaxNLocator(10, steps=[1, 2, 5, 10],
                                                  integer=True))
    unit = "seconds"
  else:  # ticks on whole minutes, labelled m:ss
    ax.xaxis.set_major_locator(ticker.MultipleLocator(_minute_step(span)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_minutes))
    unit = "minutes:seconds"
  ax.set_xlabel(f"time in the video ({unit}); a step is one "
                f"{segment_seconds:g}-second segment")
  ax.set_ylabel("score")
  ax.set_title(_short(title), loc="left", fontsize=12)
  if handles:
    fig.legend(handles, labels, loc="outside lower left", frameon=False,
               ncols=1, fontsize=9, handlelength=2.5,
               handler_map={tuple: legend_handler.HandlerTuple(ndivide=1)})
  return fig


def png(title, starts, series, segment_seconds=5, end_seconds=None):
  """PNG bytes of `figure(...)` (WIDTH_INCHES * 100 pixels wide)."""
  return plots.png_bytes(figure(title, starts, series, segment_seconds,
                                end_seconds))
