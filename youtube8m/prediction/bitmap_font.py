"""A tiny 5x7 bitmap font for the labels of the pictures this package draws.

Printable ASCII (32-126), one glyph a line below: the character, then its
seven rows top to bottom, `#` a pixel set (g, p, q and y are drawn two
rows lower, their tails below the baseline). Other characters are drawn as
their ASCII base letter when they have one (accents dropped: "Pok\u00e9mon" ->
"Pokemon"), else as `?`. `draw` paints text into an RGB uint8 array at any
integer scale; a character takes (5 + 1) * scale pixels across and
(7 + 2) * scale pixels down (`text_width`, LINE_HEIGHT).
"""

import unicodedata

import numpy as np

GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
ADVANCE = GLYPH_WIDTH + 1  # pixels from one character to the next (scale 1)
LINE_HEIGHT = GLYPH_HEIGHT + 2
# Drawn 2 pixels lower: their last two rows hang below the line.
DESCENDERS = "gpqy"

_GLYPHS = r"""
  ..... ..... ..... ..... ..... ..... .....
! ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..
" .#.#. .#.#. ..... ..... ..... ..... .....
# .#.#. ##### .#.#. .#.#. .#.#. ##### .#.#.
$ ..#.. .#### #.#.. .###. ..#.# ####. ..#..
% ##..# ##..# ...#. ..#.. .#... #..## #..##
& .##.. #..#. #.#.. .#... #.#.# #..#. .##.#
' ..#.. ..#.. ..... ..... ..... ..... .....
( ...#. ..#.. .#... .#... .#... ..#.. ...#.
) .#... ..#.. ...#. ...#. ...#. ..#.. .#...
* ..... ..#.. #.#.# .###. #.#.# ..#.. .....
+ ..... ..#.. ..#.. ##### ..#.. ..#.. .....
, ..... ..... ..... ..... .##.. ..#.. .#...
- ..... ..... ..... ##### ..... ..... .....
. ..... ..... ..... ..... ..... .##.. .##..
/ ....# ....# ...#. ..#.. .#... #.... #....
0 .###. #...# #..## #.#.# ##..# #...# .###.
1 ..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.
2 .###. #...# ....# ...#. ..#.. .#... #####
3 ##### ...#. ..#.. ...#. ....# #...# .###.
4 ...#. ..##. .#.#. #..#. ##### ...#. ...#.
5 ##### #.... ####. ....# ....# #...# .###.
6 ..##. .#... #.... ####. #...# #...# .###.
7 ##### ....# ...#. ..#.. .#... .#... .#...
8 .###. #...# #...# .###. #...# #...# .###.
9 .###. #...# #...# .#### ....# ...#. .##..
: ..... .##.. .##.. ..... .##.. .##.. .....
; ..... .##.. .##.. ..... .##.. ..#.. .#...
< ...#. ..#.. .#... #.... .#... ..#.. ...#.
= ..... ..... ##### ..... ##### ..... .....
> .#... ..#.. ...#. ....# ...#. ..#.. .#...
? .###. #...# ....# ...#. ..#.. ..... ..#..
@ .###. #...# ....# .##.# #.#.# #.#.# .###.
A .###. #...# #...# ##### #...# #...# #...#
B ####. #...# #...# ####. #...# #...# ####.
C .###. #...# #.... #.... #.... #...# .###.
D ###.. #..#. #...# #...# #...# #..#. ###..
E ##### #.... #.... ####. #.... #.... #####
F ##### #.... #.... ####. #.... #.... #....
G .###. #...# #.... #.### #...# #...# .####
H #...# #...# #...# ##### #...# #...# #...#
I .###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.
J ..### ...#. ...#. ...#. ...#. #..#. .##..
K #...# #..#. #.#.. ##... #.#.. #..#. #...#
L #.... #.... #.... #.... #.... #.... #####
M #...# ##.## #.#.# #.#.# #...# #...# #...#
N #...# #...# ##..# #.#.# #..## #...# #...#
O .###. #...# #...# #...# #...# #...# .###.
P ####. #...# #...# ####. #.... #.... #....
Q .###. #...# #...# #...# #.#.# #..#. .##.#
R ####. #...# #...# ####. #.#.. #..#. #...#
S .#### #.... #.... .###. ....# ....# ####.
T ##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..
U #...# #...# #...# #...# #...# #...# .###.
V #...# #...# #...# #...# #...# .#.#. ..#..
W #...# #...# #...# #.#.# #.#.# #.#.# .#.#.
X #...# #...# .#.#. ..#.. .#.#. #...# #...#
Y #...# #...# .#.#. ..#.. ..#.. ..#.. ..#..
Z ##### ....# ...#. ..#.. .#... #.... #####
[ .###. .#... .#... .#... .#... .#... .###.
\ #.... #.... .#... ..#.. ...#. ....# ....#
] .###. ...#. ...#. ...#. ...#. ...#. .###.
^ ..#.. .#.#. #...# ..... ..... ..... .....
_ ..... ..... ..... ..... ..... ..... #####
` .#... ..#.. ..... ..... ..... ..... .....
a ..... ..... .###. ....# .#### #...# .####
b #.... #.... #.##. ##..# #...# #...# ####.
c ..... ..... .###. #.... #.... #...# .###.
d ....# ....# .##.# #..## #...# #...# .####
e ..... ..... .###. #...# ##### #.... .###.
f ..##. .#..# .#... ###.. .#... .#... .#...
g .#### #...# #...# #...# .#### ....# .###.
h #.... #.... #.##. ##..# #...# #...# #...#
i ..#.. ..... .##.. ..#.. ..#.. ..#.. .###.
j ...#. ..... ..##. ...#. ...#. #..#. .##..
k #.... #.... #..#. #.#.. ##... #.#.. #..#.
l .##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.
m ..... ..... ##.#. #.#.# #.#.# #...# #...#
n ..... ..... #.##. ##..# #...# #...# #...#
o ..... ..... .###. #...# #...# #...# .###.
p ####. #...# #...# #...# ####. #.... #....
q .#### #...# #...# #...# .#### ....# ....#
r ..... ..... #.##. ##..# #.... #.... #....
s ..... ..... .###. #.... .###. ....# ####.
t .#... .#... ###.. .#... .#... .#..# ..##.
u ..... ..... #...# #...# #...# #..## .##.#
v ..... ..... #...# #...# #...# .#.#. ..#..
w ..... ..... #...# #...# #.#.# #.#.# .#.#.
x ..... ..... #...# .#.#. ..#.. .#.#. #...#
y #...# #...# #...# #...# .#### ....# .###.
z ..... ..... ##### ...#. ..#.. .#... #####
{ ...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.
| ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..
} .#... ..#.. ..#.. ...#. ..#.. ..#.. .#...
~ ..... ..... .#... #.#.# ...#. ..... .....
"""


def _parse(table):
  glyphs = {}
  for line in table.strip("\n").split("\n"):
    rows = line[2:].split(" ")
    glyphs[line[0]] = np.array([[c == "#" for c in row] for row in rows],
                               bool)
  return glyphs


GLYPHS = _parse(_GLYPHS)
assert len(GLYPHS) == 95 and all(
    g.shape == (GLYPH_HEIGHT, GLYPH_WIDTH) for g in GLYPHS.values())


def printable(text):
  """text with every character the font has no glyph for replaced."""
  out = []
  for char in str(text):
    if char not in GLYPHS:
      base = unicodedata.normalize("NFKD", char)
      base = "".join(c for c in base if c in GLYPHS and c != " ")
      char = base or "?"
    out.append(char)
  return "".join(out)


def text_width(text, scale=1):
  """Pixels across of `text` drawn at `scale` (no spacing after the last)."""
  count = len(printable(text))
  return max(0, count * ADVANCE - 1) * scale


def fit(text, pixels, scale=1):
  """text cut (ending in "...") to at most `pixels` across."""
  text = printable(text)
  if text_width(text, scale) <= pixels:
    return text
  keep = max(0, (pixels // scale + 1) // ADVANCE - 3)
  return text[:keep] + "..."


def draw(image, text, x, y, color, scale=1):
  """Paints text into image [H, W, 3] with its top-left corner at (x, y).

  Pixels outside the image are skipped.
  """
  height, width = image.shape[:2]
  color = np.asarray(color, image.dtype)
  for char in printable(text):
    mask = np.kron(GLYPHS[char], np.ones([scale, scale], bool))
    top, left = y + (2 * scale if char in DESCENDERS else 0), x
    rows = slice(max(top, 0), min(top + mask.shape[0], height))
    cols = slice(max(left, 0), min(left + mask.shape[1], width))
    if rows.start < rows.stop and cols.start < cols.stop:
      part = mask[rows.start - top:rows.stop - top,
                  cols.start - left:cols.stop - left]
      image[rows, cols][part] = color
    x += ADVANCE * scale
  return x
