"""submissions.py: batch formatting of the Kaggle CSV equals the row form."""

import numpy as np
import pytest

from youtube8m.common import utils
from youtube8m.data import submissions


def _rows_one_by_one(ids, classes, scores):
  return "".join(submissions.format_row(v, c, s)
                 for v, c, s in zip(ids, classes, scores))


@pytest.mark.parametrize("k", [1, 3, 20])
def test_batch_rows_are_byte_identical_to_single_rows(k):
  rng = np.random.default_rng(k)
  batch = 50
  ids = [f"v{i:03d}" for i in range(batch)]
  classes = rng.integers(0, 3862, (batch, k)).astype(np.int32)
  scores = rng.random((batch, k)).astype(np.float32)
  # Values where %g switches notation or rounds: tiny, huge, exact, ties.
  special = np.array([0.0, 1.0, 1e-30, 123456789.0, 1e-5, 0.0001,
                      np.float32(1 / 3), 0.999999, 0.9999995, -0.5],
                     np.float32)
  scores.ravel()[:special.size] = special[:scores.size]
  text = submissions.format_rows(ids, classes, scores, "here")
  assert text == _rows_one_by_one(ids, classes, scores)
  assert text.count("\n") == batch
  # float64 scores (any caller) format the same way as the row form.
  wide = scores.astype(np.float64) / 3
  assert (submissions.format_rows(ids, classes, wide, "here") ==
          _rows_one_by_one(ids, classes, wide))
  assert submissions.format_rows([], classes[:0], scores[:0], "here") == ""


def test_batch_checks_name_the_first_bad_video():
  scores = np.full((3, 2), 0.5, np.float32)
  scores[1, 1], scores[2, 0] = np.nan, np.inf
  with pytest.raises(utils.Yt8mError, match="'b' has a score that is NaN"):
    submissions.format_rows(["a", "b", "c"], np.zeros((3, 2), np.int32),
                            scores, "here")
  assert submissions.csv_video_ids([b"a", "b", b"\xc3\xa9"], "here") == [
      "a", "b", "\u00e9"]
  for bad, message in [(b"x,y", "'x,y' cannot be written"),
                       (b"\xff", "is not UTF-8"), (b"", "'' cannot be"),
                       (b"new\nline", "cannot be written")]:
    with pytest.raises(utils.Yt8mError, match=message):
      submissions.csv_video_ids([b"fine", bad, b"x\x00"], "here")
