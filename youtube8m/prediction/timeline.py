"""A picture of class scores over a video's time, drawn with numpy as a PNG.

`render(title, starts, series)` draws one line a class through its scores at
the segment start seconds (a small square at every segment), on axes with
ticks (x: seconds from the start of the video, y: score 0 to 1) and a grid,
with a legend below the plot (the class's colour, name and whole-video
score). `encode_png` turns the RGB array into PNG bytes (tf.io.encode_png):
no plotting library is needed.
"""

import collections

import numpy as np
import tensorflow as tf

from youtube8m.prediction import bitmap_font

WIDTH = 800
PLOT_LEFT, PLOT_RIGHT = 64, WIDTH - 24  # the plot's pixel columns
PLOT_TOP, PLOT_HEIGHT = 44, 300
PLOT_BOTTOM = PLOT_TOP + PLOT_HEIGHT  # the x axis row
LEGEND_TOP = PLOT_BOTTOM + 44
LEGEND_ROW = 16
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
GRID = (225, 225, 225)
# Line colours, told apart also by people with red-green colour blindness
# for the first few; classes beyond the palette reuse it.
COLORS = ((0, 90, 200), (230, 120, 0), (20, 150, 60), (200, 30, 60),
          (130, 60, 180), (120, 80, 40), (220, 90, 170), (0, 150, 160),
          (140, 140, 0), (100, 100, 100))

# One class's line: its name, whole-video score and scores [N] by segment.
Series = collections.namedtuple("Series", "name score values")


def color(index):
  return COLORS[index % len(COLORS)]


def height(num_series):
  return LEGEND_TOP + max(1, num_series) * LEGEND_ROW + 8


def _nice_step(span, most_ticks):
  """The smallest of 1, 2, 5, 10, 15, 30, 60, ... s giving <= most_ticks."""
  for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
    if span / step <= most_ticks:
      return step
  return 3600 * int(np.ceil(span / 3600 / most_ticks))


def _x_pixels(seconds, span):
  width = PLOT_RIGHT - PLOT_LEFT
  return PLOT_LEFT + np.round(np.asarray(seconds, np.float64) / span *
                              width).astype(int)


def _y_pixels(scores):
  scores = np.clip(np.nan_to_num(np.asarray(scores, np.float64)), 0, 1)
  return PLOT_BOTTOM - np.round(scores * PLOT_HEIGHT).astype(int)


def _fill(image, top, left, bottom, right, rgb):
  """Paints rows top..bottom-1, columns left..right-1 (clipped)."""
  h, w = image.shape[:2]
  image[max(top, 0):min(bottom, h), max(left, 0):min(right, w)] = rgb


def _line(image, x0, y0, x1, y1, rgb, thickness=2):
  """A straight line of `thickness` pixels from (x0, y0) to (x1, y1)."""
  steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
  xs = np.round(np.linspace(x0, x1, steps)).astype(int)
  ys = np.round(np.linspace(y0, y1, steps)).astype(int)
  h, w = image.shape[:2]
  for dy in range(thickness):
    for dx in range(thickness):
      x, y = xs + dx - thickness // 2, ys + dy - thickness // 2
      keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
      image[y[keep], x[keep]] = rgb


def _axes(image, span):
  # y: 0, 0.25, ..., 1 with grid lines and labels left of the axis.
  for tick in np.linspace(0, 1, 5):
    y = int(_y_pixels([tick])[0])
    if tick > 0:
      _fill(image, y, PLOT_LEFT + 1, y + 1, PLOT_RIGHT + 1, GRID)
    _fill(image, y, PLOT_LEFT - 5, y + 1, PLOT_LEFT, INK)
    label = f"{tick:.2f}"
    bitmap_font.draw(image, label, PLOT_LEFT - 8 -
                     bitmap_font.text_width(label), y - 3, INK)
  # x: seconds, at a step giving at most 10 ticks.
  step = _nice_step(span, 10)
  for seconds in np.arange(0, span + 1e-9, step):
    x = int(_x_pixels([seconds], span)[0])
    if seconds > 0:
      _fill(image, PLOT_TOP, x, PLOT_BOTTOM, x + 1, GRID)
    _fill(image, PLOT_BOTTOM + 1, x, PLOT_BOTTOM + 6, x + 1, INK)
    label = (f"{int(seconds)}" if span < 600 else
             f"{int(seconds) // 60}:{int(seconds) % 60:02d}")
    bitmap_font.draw(image, label, x - bitmap_font.text_width(label) // 2,
                     PLOT_BOTTOM + 9, INK)
  _fill(image, PLOT_TOP, PLOT_LEFT, PLOT_BOTTOM + 1, PLOT_LEFT + 1, INK)
  _fill(image, PLOT_BOTTOM, PLOT_LEFT, PLOT_BOTTOM + 1, PLOT_RIGHT + 1, INK)
  caption = ("segment start (seconds)" if span < 600 else
             "segment start (minutes:seconds)")
  bitmap_font.draw(image, caption, (PLOT_LEFT + PLOT_RIGHT -
                                    bitmap_font.text_width(caption)) // 2,
                   PLOT_BOTTOM + 22, INK)
  bitmap_font.draw(image, "score", 8, PLOT_TOP - 16, INK)


def render(title, starts, series, segment_seconds=5, end_seconds=None):
  """The picture as uint8 [height(len(series)), WIDTH, 3] RGB.

  Args:
    title: drawn above the plot (cut to fit).
    starts: segment start seconds [N], ascending.
    series: Series, one line each, in legend order; values [N] in [0, 1].
    segment_seconds: the length of a segment.
    end_seconds: where the x axis ends (the video's length); default the
      end of the last segment.
  """
  starts = np.asarray(starts, np.float64)
  image = np.empty([height(len(series)), WIDTH, 3], np.uint8)
  image[:] = BACKGROUND
  if end_seconds is None:
    end_seconds = starts.max() + segment_seconds if starts.size else 0
  span = float(max(end_seconds, starts.max() if starts.size else 0, 1))
  _axes(image, span)
  bitmap_font.draw(image, bitmap_font.fit(title, WIDTH - 16, 2), 8, 8, INK,
                   scale=2)
  xs = _x_pixels(starts, span)
  for index, line in enumerate(series):
    rgb = color(index)
    ys = _y_pixels(line.values)
    for k in range(len(xs) - 1):
      _line(image, xs[k], ys[k], xs[k + 1], ys[k + 1], rgb)
    for x, y in zip(xs, ys):
      _fill(image, y - 2, x - 2, y + 3, x + 3, rgb)
    top = LEGEND_TOP + index * LEGEND_ROW
    _line(image, PLOT_LEFT, top + 4, PLOT_LEFT + 28, top + 4, rgb, 3)
    _fill(image, top + 2, PLOT_LEFT + 12, top + 7, PLOT_LEFT + 17, rgb)
    text = f"{line.name}  (video score {line.score:.3f})"
    bitmap_font.draw(image, bitmap_font.fit(text, PLOT_RIGHT - PLOT_LEFT -
                                            40), PLOT_LEFT + 38, top, INK)
  return image


def encode_png(image):
  """PNG bytes of an RGB uint8 image [H, W, 3]."""
  return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()
