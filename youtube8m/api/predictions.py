"""`Predictions`: each video's top-k classes, scores and names.

What `Model.predict` and `Model.predict_records` return. `to_csv` writes
the Kaggle file inference.py writes, row for row, through the same
formatter (data/submissions.py) and the same whole-or-nothing output.
"""

import dataclasses

import numpy as np

from youtube8m.data import submissions
from youtube8m.prediction import inference_lib


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
  """Top-k predictions of B videos, best first.

  Attributes:
    ids: str [B] video ids (records' ids, or the ids given to predict).
    class_ids: int32 [B, k] class ids, best first (equal scores: lower id
      first, as tf.math.top_k and inference.py order them).
    scores: float32 [B, k] the model's probability of each class.
    num_classes: C, the classes of the model.
    vocabulary: {class id: name} the names come from.
  """
  ids: np.ndarray
  class_ids: np.ndarray
  scores: np.ndarray
  num_classes: int
  vocabulary: dict = dataclasses.field(repr=False)

  def __post_init__(self):
    b, k = np.shape(self.class_ids)
    if np.shape(self.scores) != (b, k) or np.shape(self.ids) != (b,):
      raise ValueError(f"ids {np.shape(self.ids)}, class_ids ({b}, {k}) and "
                       f"scores {np.shape(self.scores)} do not match")

  def __len__(self):
    return len(self.ids)

  @property
  def top_k(self):
    """k, the classes kept per video."""
    return self.class_ids.shape[1]

  @property
  def names(self):
    """[B][k] lists of class names ("" for a class the vocabulary lacks)."""
    return [[self.vocabulary.get(int(c), "") for c in row]
            for row in self.class_ids]

  def to_csv(self, path):
    """Writes the Kaggle CSV (`VideoId,LabelConfidencePairs`); returns B.

    Exactly what inference.py writes for these videos: "%i %g" pairs, best
    first; written under a temporary name and renamed (local or gs://).

    Raises:
      Yt8mError: an id a CSV cannot hold, a NaN/inf score, or `path` cannot
        be written; nothing is written then.
    """
    source = "Predictions.to_csv"

    def write(f):
      f.write(submissions.CSV_HEADER)
      for video, classes, scores in zip(self.ids, self.class_ids,
                                        self.scores):
        video = submissions.csv_video_id(video, source)
        submissions.check_scores(video, scores, source)
        f.write(submissions.format_row(video, classes, scores))
      return len(self)

    return inference_lib.write_output(path, "path", write)
