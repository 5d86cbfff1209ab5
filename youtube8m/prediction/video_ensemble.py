"""Video-level prediction files, aligned for a weighted ensemble.

Each member is a Kaggle predictions CSV (`VideoId,LabelConfidencePairs`,
inference.py's output) over the same videos. The ensemble's score of
(video, class) is the weighted sum of the members' scores, a class missing
from a member's row counting as that member's score 0 (a row holds only
the member's top-k: write members with a larger `inference.py --top_k`
to keep more classes). A (video, class) listed only by members of weight 0
is not an entry of the ensemble, so a member alone (weights 1, 0, ...)
scores exactly as its own file does.

Memory: 4 bytes per member per distinct (video, class) pair of the files.
"""

import numpy as np

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.data import submissions
from youtube8m.evaluation import score_lib


class VideoMembers:
  """Prediction files read and aligned on their (video, class) entries.

  Attributes:
    paths: the member files.
    videos: [V] video ids, in the first file's order.
    lines: {video id: its line in the first file}.
    scores: float32 [M, U] each member's score of each entry (0: unlisted).
    listed: bool [M, U] whether the member's row lists the entry.
    rows, classes: int64 [U] the entries' video (index into `videos`) and
      class, sorted by video then class.
  """

  def __init__(self, paths, num_classes):
    self.paths, self.num_classes = list(paths), int(num_classes)
    parts = [self._read(n, path) for n, path in enumerate(self.paths)]
    keys = np.concatenate([k for k, _ in parts])
    unique, inverse = np.unique(keys, return_inverse=True)
    self.rows, self.classes = np.divmod(unique, self.num_classes)
    self.scores = np.zeros((len(parts), unique.size), np.float32)
    self.listed = np.zeros((len(parts), unique.size), bool)
    start = 0
    for n, (member_keys, member_scores) in enumerate(parts):
      at = inverse[start:start + member_keys.size]
      self.scores[n, at], self.listed[n, at] = member_scores, True
      start += member_keys.size

  def _read(self, n, path):
    """(keys row * C + class [P], scores [P]) of one file; the first file
    sets the videos, the others must have the same ones."""
    first = n == 0
    if first:
      self.videos, self.lines = [], {}
    index = {v: i for i, v in enumerate(self.videos)}
    keys, scores, seen = [], [], set()
    for number, video, classes, row_scores in score_lib.prediction_rows(
        path, self.num_classes):
      if first:
        index[video] = len(self.videos)
        self.videos.append(video)
        self.lines[video] = number
      elif video not in index:
        raise utils.Yt8mError(
            f"{path}, line {number}: video '{video}' is not in "
            f"{self.paths[0]}; the members must predict the same videos")
      seen.add(video)
      keys.extend(index[video] * self.num_classes + c for c in classes)
      scores.extend(row_scores)
    if len(seen) < len(self.videos):
      video = next(v for v in self.videos if v not in seen)
      raise utils.Yt8mError(
          f"{path}: has no row for video '{video}' ({self.paths[0]}, line "
          f"{self.lines[video]}); the members must predict the same videos")
    return np.array(keys, np.int64), np.array(scores, np.float32)

  def combined(self, weights):
    """(rows, classes, scores) [E] of the ensemble's entries, float64."""
    weights = np.asarray(weights, np.float64)
    keep = self.listed[weights > 0].any(axis=0)
    scores = weights @ self.scores[:, keep].astype(np.float64)
    return self.rows[keep], self.classes[keep], scores

  def top_k(self, weights, k):
    """The ensemble's rows: (classes [N], scores [N], lengths [V]), each
    row its k best entries, best first (equal scores: lower class first)."""
    rows, classes, scores = self.combined(weights)
    order = np.lexsort((classes, -scores, rows))
    rows, classes, scores = rows[order], classes[order], scores[order]
    starts = np.searchsorted(rows, np.arange(len(self.videos)))
    keep = np.arange(rows.size) - starts[rows] < k
    lengths = np.bincount(rows[keep], minlength=len(self.videos))
    return classes[keep], scores[keep], lengths

  def check_labelled(self, labels, flag):
    """Raises for the first video (of the first file) `labels` lacks."""
    for video in self.videos:
      if video not in labels:
        raise utils.Yt8mError(
            f"{self.paths[0]}, line {self.lines[video]}: video '{video}' is "
            f"not in {flag}")

  def score(self, weights, labels, top_k):
    """score_lib's metrics of the ensemble (GAP@top_k, MAP, ...).

    labels: {video: class ids} (score_lib.read_labels) holding every video.
    """
    classes, scores, lengths = self.top_k(weights, top_k)
    values = score_lib.evaluation_metrics(
        labels, self.videos, classes, scores, lengths, self.num_classes,
        top_k).get()
    return {"gap": values["gap"], "map": values["map"],
            "hit_at_one": values["avg_hit_at_one"]}

  def write(self, path, weights, top_k):
    """Writes the ensemble's CSV (top_k pairs per video), whole or not."""
    classes, scores, lengths = self.top_k(weights, top_k)
    ends = np.cumsum(lengths)

    def write_rows(f):
      f.write(submissions.CSV_HEADER)
      for video, end, length in zip(self.videos, ends, lengths):
        f.write(submissions.format_row(video, classes[end - length:end],
                                       scores[end - length:end]))
    outputs.write_file(path, write_rows)
