"""Figures drawn with matplotlib (the optional `plots` extra), off screen.

The pictures (label_video's timeline, the evaluation report's figures) are
matplotlib Figures made with `figure()`: a bare `matplotlib.figure.Figure`
rendered by the Agg canvas, so no display is ever needed and a notebook's
own pyplot backend and state are left alone (pyplot is never imported).

matplotlib is an optional dependency: `requires_matplotlib` is a settings
check for flags that ask for a picture, so a command fails in one line
before it writes anything, saying how to install it.
"""

import base64
import html
import io

from youtube8m.common import checks

INSTALL_HINT = ("pip install 'youtube8m[plots]' (or pip install matplotlib) "
                "in the environment that runs it")
# Colours told apart also by people with red-green colour blindness (the
# Okabe-Ito palette, then greys); lines beyond it reuse it.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
          "#F0E442", "#000000", "#999999", "#8C564B")
DPI = 100  # figure inches * DPI = pixels of the PNG


def available():
  """Whether matplotlib can be imported."""
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top,unused-import,import-outside-toplevel
  except ImportError:
    return False
  return True


def requires_matplotlib(flag, value):
  """Settings check: a non-empty `value` needs matplotlib installed."""
  if value and not available():
    raise checks.bad_flag(flag, value, "drawing it needs matplotlib, which "
                          f"is not installed: {INSTALL_HINT}")


def figure(width_inches, height_inches):
  """A new Figure (Agg canvas, white, constrained layout), not on screen."""
  from matplotlib import figure as mpl_figure  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  return mpl_figure.Figure(figsize=(width_inches, height_inches), dpi=DPI,
                           facecolor="white", layout="constrained")


def color(index):
  return COLORS[index % len(COLORS)]


def png_bytes(fig, scale=1):
  """The figure as PNG bytes, `scale` pixels per pixel (2: sharp on
  high-density screens). No date or version is stored, so equal figures
  give equal files."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=DPI * scale,
              metadata={"Software": None})
  return buffer.getvalue()


def html_img(fig, alt, element_id=None):
  """An <img> holding the figure as an inline (data: URI) PNG.

  Drawn at twice the size it is shown at, so it stays sharp when zoomed or
  on high-density screens; the page needs no other file.
  """
  width, height = (int(round(v * DPI)) for v in fig.get_size_inches())
  data = base64.b64encode(png_bytes(fig, scale=2)).decode("ascii")
  ident = f' id="{element_id}"' if element_id else ""
  return (f'<img{ident} width="{width}" height="{height}" '
          f'alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
