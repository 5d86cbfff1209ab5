"""`train`: train.py from Python, with a TrainConfig and model flags.

train.py fills a TrainConfig from its flags and calls train_lib.train; so
does `train`, taking the model flags (--model, --feature_names, ...) as
keyword arguments, recorded in model_flags.json as if typed.
"""

import dataclasses

from youtube8m.api import arguments
from youtube8m.common import utils
from youtube8m.training import train_config
from youtube8m.training import train_lib

TrainConfig = train_config.TrainConfig


def train(config, **model_flags):
  """Trains as `python train.py` does; returns the final global step.

  Args:
    config: a TrainConfig: train.py's settings under their flag names
      (train_data_pattern, train_dir, batch_size, num_epochs, max_steps,
      start_new_model, ...), plus final_export_dir: where to write a
      SavedModel of the final weights ("" for none).
    **model_flags: the model flags, e.g. model="MoeModel",
      feature_names="mean_rgb,mean_audio", feature_sizes="1024,128",
      moe_num_mixtures=4. A train_dir holding model_flags.json resumes with
      it; flags given here must agree with it.

  Raises:
    Yt8mError: one line naming the setting or flag at fault, or the file
      and video of bad data; a bad setting fails before anything is
      written.
  """
  if not isinstance(config, TrainConfig):
    raise utils.Yt8mError(f"config: expected an api.TrainConfig(...), got "
                          f"{type(config).__name__}")
  if not config.train_data_pattern:
    raise utils.Yt8mError("config.train_data_pattern is required")
  arguments.model_flags(model_flags, "api.train")
  config = dataclasses.replace(
      config, model_flags={**config.model_flags, **model_flags},
      explicit_flags=frozenset(config.explicit_flags) | set(model_flags))
  with arguments.errors_named(
      {f.name: f"config.{f.name}" for f in dataclasses.fields(TrainConfig)}):
    return train_lib.train(config)
