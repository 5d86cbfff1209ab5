"""The two Kaggle submission formats, written and read in one place.

Video level (2017, 2018): `VideoId,LabelConfidencePairs`, then one row per
video, `id,cls score cls score ...` (top-k pairs, best first, "%i %g").
Segment level (2019): `Class,Segments`, then one row per class,
`cls,<video_id>:<start_second> ...` (best first).
"""

import re

import numpy as np
import tensorflow as tf

from youtube8m.common import utils

CSV_HEADER = "VideoId,LabelConfidencePairs\n"
SUBMISSION_HEADER = "Class,Segments"
_SEGMENT_ID = re.compile(r"^.+:\d+$")


# A Kaggle CSV field must not need quoting: no comma, quote or line break;
# control characters (C0, DEL, C1) are refused as well.
_NOT_CSV = re.compile('[,"\x00-\x1f\x7f-\x9f]')


def csv_video_id(raw, source):
  """The video id (bytes or str) as CSV text, or a Yt8mError naming `source`.

  Refused rather than quoted (RFC 4180): an id with a comma, a quote, a
  newline or another control character, an empty id, or bytes that are not
  UTF-8 would not survive every CSV reader (the scorer's included).
  """
  if isinstance(raw, bytes):
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
      raise utils.Yt8mError(f"{source}: video id {raw!r} is not UTF-8; a "
                            "CSV cannot hold it") from e
  else:
    text = str(raw)
  if not text or _NOT_CSV.search(text):
    raise utils.Yt8mError(
        f"{source}: video id {text!r} cannot be written to the CSV (empty, "
        "or it holds a comma, a quote or a control character such as a "
        "newline); fix the ids in the input")
  return text


def check_scores(video_id, scores, source):
  """Raises a Yt8mError naming the video if a score [k] is NaN or inf."""
  if not np.all(np.isfinite(np.asarray(scores, np.float64))):
    raise utils.Yt8mError(
        f"{source}: video {video_id!r} has a score that is NaN or infinite; "
        "the model or that video's record is bad, so nothing was written")


def format_row(video_id, classes, scores):
  """One CSV row: `id,cls score cls score ...` ("%i %g"), newline-ended."""
  pairs = " ".join("%i %g" % (c, s) for c, s in zip(classes, scores))
  return f"{video_id},{pairs}\n"


def csv_video_ids(raw_ids, source):
  """`csv_video_id` of a batch of ids (bytes or str) [B]: a list of str.

  One regex search over the joined ids instead of one per id; the error,
  when there is one, still names the first bad id.
  """
  try:
    texts = [raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
             for raw in raw_ids]
  except UnicodeDecodeError:
    texts = None
  # The forbidden characters cannot span two ids, so joining is exact.
  if texts is None or not all(texts) or _NOT_CSV.search("".join(texts)):
    return [csv_video_id(raw, source) for raw in raw_ids]  # names the id
  return texts


def format_rows(video_ids, classes, scores, source):
  """The CSV rows of a batch, as one string: `format_row` of each video.

  Args:
    video_ids: [B] str, already checked (`csv_video_ids`).
    classes: int [B, k]; scores: float [B, k].
    source: names the input in the error for a non-finite score.

  The rows are byte-identical to `format_row`'s: the same "%i %g" applied
  to the same values, one `%` per batch rather than one per pair.
  """
  scores = np.asarray(scores)
  finite = np.isfinite(scores.astype(np.float64)).all(axis=1)
  if not finite.all():
    bad = int(np.argmin(finite))
    check_scores(video_ids[bad], scores[bad], source)
  batch, k = scores.shape
  if batch == 0:
    return ""
  row = "%s," + " ".join(["%i %g"] * k) + "\n"
  # Per row: the id, then class and score of each pair, as Python objects
  # ("%g" of a float32 formats its float64 value, as format_row does).
  pairs = np.empty((batch, 2 * k), object)
  pairs[:, 0::2] = np.asarray(classes).tolist()
  pairs[:, 1::2] = scores.astype(np.float64).tolist()
  values = np.concatenate([np.asarray(video_ids, object)[:, None], pairs],
                          axis=1)
  return (row * batch) % tuple(values.ravel().tolist())


def submission_rows(path):
  """Yields (line number, class id, [segment id, ...]) of a Class,Segments
  CSV, rows in file order.

  Raises:
    Yt8mError: no header, a bad class id, a class with a second row or a
      malformed segment id, naming the file and line.
  """
  with tf.io.gfile.GFile(path, "r") as f:
    lines = f.read().splitlines()
  if not lines or lines[0].strip() != SUBMISSION_HEADER:
    raise utils.Yt8mError(f"{path}: the first line must be "
                          f"'{SUBMISSION_HEADER}'")
  seen = set()
  for number, line in enumerate(lines[1:], 2):
    if not line.strip():
      continue
    head, _, rest = line.partition(",")
    try:
      cls = int(head)
    except ValueError:
      cls = None
    if cls is None or cls < 0:
      raise utils.Yt8mError(f"{path}, line {number}: class '{head}' is not "
                            "a class id")
    if cls in seen:
      raise utils.Yt8mError(f"{path}, line {number}: class {cls} has a "
                            "second row")
    seen.add(cls)
    segments = rest.split()
    bad = [s for s in segments if not _SEGMENT_ID.match(s)]
    if bad:
      raise utils.Yt8mError(f"{path}, line {number}: '{bad[0]}' is not a "
                            "segment id <video_id>:<start_second>")
    yield number, cls, segments


def read_submission(path):
  """{class: [segment id, ...] best first} from a `Class,Segments` CSV."""
  return {cls: segments for _, cls, segments in submission_rows(path)}
