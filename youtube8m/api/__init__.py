"""The Python API, for notebooks and scripts: `from youtube8m import api`.

  model = api.load("/tmp/yt8m_model/video_level_logistic_model")
  predictions = model.predict_records("/tmp/yt8m_data/video/test*.tfrecord")
  predictions.ids, predictions.class_ids, predictions.scores, predictions.names
  api.evaluate(model.predict_records(validate), api.read_labels(validate))
  api.train(api.TrainConfig(train_data_pattern=..., train_dir=...),
            model="LogisticModel")

Guide and examples (each one runs as a test): docs/api.md. What is named
here is the API; the modules behind it may change. It sits above the
training, prediction and evaluation libraries and below the commands: no
library imports it, and it imports no command.
"""

from youtube8m.api.metrics import evaluate
from youtube8m.api.metrics import read_labels
from youtube8m.api.model import load
from youtube8m.api.model import Model
from youtube8m.api.predictions import Predictions
from youtube8m.api.training import train
from youtube8m.api.training import TrainConfig
from youtube8m.common.utils import Yt8mError

__all__ = ["load", "Model", "Predictions", "evaluate", "read_labels",
           "train", "TrainConfig", "Yt8mError"]
