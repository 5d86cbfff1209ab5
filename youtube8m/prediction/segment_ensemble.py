"""`Class,Segments` submissions (2019), aligned for a weighted ensemble.

A submission ranks segments per class without scores, so each member's
list is turned into rank scores: in a class whose longest member list has
N segments, the segment at (0-based) place p of a member's list scores
1 - p / N for that member, and a segment the member does not list scores 0
(a Borda count, weighted). The ensemble ranks each class's segments by the
weighted sum, equal sums in order of first appearance (the members in
order, each best first), and keeps --top_n. A segment listed only by
members of weight 0 is left out, so a member alone keeps its own list.

The members must rank the same classes; a segment id may appear once per
row. `score` computes segment_eval_lib's MAP@top_n (the 2019 metric) with
numpy, fast enough to search weights over full-size lists.
"""

import numpy as np

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.data import submissions


class _Class:
  """One class's segments: ids [U], member rank scores [M, U], listed."""

  def __init__(self, lists):
    index = {}
    for segments in lists:
      for segment in segments:
        index.setdefault(segment, len(index))
    self.ids = np.array(list(index), object)
    longest = max(len(s) for s in lists)
    self.scores = np.zeros((len(lists), len(index)), np.float32)
    self.listed = np.zeros((len(lists), len(index)), bool)
    for n, segments in enumerate(lists):
      at = np.array([index[s] for s in segments], np.int64)
      self.scores[n, at] = 1.0 - np.arange(len(segments)) / longest
      self.listed[n, at] = True

  def order(self, weights, top_n):
    """Indexes of the ensemble's list (best first, at most top_n)."""
    keep = np.flatnonzero(self.listed[weights > 0].any(axis=0))
    sums = weights @ self.scores[:, keep].astype(np.float64)
    return keep[np.argsort(-sums, kind="stable")[:top_n]]


class SegmentMembers:
  """Class,Segments files read and aligned class by class."""

  def __init__(self, paths):
    self.paths = list(paths)
    rows = [self._read(path) for path in self.paths]
    first = rows[0]
    for path, member in zip(self.paths[1:], rows[1:]):
      extra = sorted(set(member) - set(first))
      if extra:
        raise utils.Yt8mError(
            f"{path}, line {member[extra[0]][0]}: class {extra[0]} has no "
            f"row in {self.paths[0]}; the members must rank the same classes")
      missing = sorted(set(first) - set(member))
      if missing:
        raise utils.Yt8mError(
            f"{path}: has no row for class {missing[0]} ({self.paths[0]}, "
            f"line {first[missing[0]][0]}); the members must rank the same "
            "classes")
    self.classes = {cls: _Class([member[cls][1] for member in rows])
                    for cls in first}

  @staticmethod
  def _read(path):
    """{class: (line, [segment ids])} of one submission."""
    rows = {}
    for number, cls, segments in submissions.submission_rows(path):
      if len(set(segments)) < len(segments):
        seen = set()
        repeated = next(s for s in segments if s in seen or seen.add(s))
        raise utils.Yt8mError(f"{path}, line {number}: segment {repeated} "
                              f"appears twice in the row of class {cls}")
      rows[cls] = (number, segments)
    return rows

  def combined(self, weights, top_n):
    """{class: [segment id, ...]} of the ensemble, best first."""
    weights = np.asarray(weights, np.float64)
    return {cls: list(c.ids[c.order(weights, top_n)])
            for cls, c in self.classes.items()}

  def _rated(self, ratings):
    """{class: (rating of each of its ids: 1, 0 or -1 unrated, positives)}
    of the classes with a positive rating; kept for the next calls."""
    if getattr(self, "_ratings", None) is not ratings:
      self._ratings, self._table = ratings, {}
      for cls in sorted(ratings):
        positives = sum(ratings[cls].values())
        if positives:
          c = self.classes.get(cls)
          values = (np.zeros(0, np.int8) if c is None else np.array(
              [ratings[cls].get(s, -1) for s in c.ids], np.int8))
          self._table[cls] = (values, positives)
    return self._table

  def score(self, weights, ratings, top_n):
    """{"map", "num_classes"}: MAP@top_n against segment ratings.

    ratings: {class: {segment id: 1 or 0}} (segment_eval_lib.read_ratings).
    The same value as segment_eval_lib.score_submission of `combined`: a
    rated class without a row scores 0, unrated segments are skipped.
    """
    weights = np.asarray(weights, np.float64)
    aps = []
    for cls, (values, positives) in self._rated(ratings).items():
      if cls not in self.classes:
        aps.append(0.0)
        continue
      relevant = values[self.classes[cls].order(weights, top_n)]
      relevant = relevant[relevant >= 0].astype(np.int64)
      precision = np.cumsum(relevant) / np.arange(1, relevant.size + 1)
      aps.append(float(np.sum(precision[relevant == 1])) / positives)
    return {"map": float(np.mean(aps)) if aps else 0.0,
            "num_classes": len(aps)}

  def write(self, path, weights, top_n):
    """Writes the ensemble's Class,Segments file, whole or not at all."""
    lists = self.combined(weights, top_n)

    def write_rows(f):
      f.write(submissions.SUBMISSION_HEADER + "\n")
      for cls in sorted(lists):
        f.write(f"{cls},{' '.join(lists[cls])}\n")
    outputs.write_file(path, write_rows)
