"""Where a Vertex AI job writes: the AIP_* directories, when they are set.

With `baseOutputDirectory` in the job spec, Vertex AI sets
  AIP_CHECKPOINT_DIR       <base>/checkpoints/  -> train_dir, unless
                           --train_dir is given explicitly
  AIP_TENSORBOARD_LOG_DIR  <base>/logs/         -> TensorBoard scalars
  AIP_MODEL_DIR            <base>/model/        -> the final SavedModel
and CLOUD_ML_JOB_ID names the job. Outside Vertex none is set and the
flags decide alone.
"""

import dataclasses
import os

from absl import logging


@dataclasses.dataclass
class JobDirs:
  train_dir: str
  summary_dir: str  # TensorBoard scalars of training
  model_dir: str  # final SavedModel, or "" for none


def resolve(train_dir, train_dir_given):
  """The directories to use, preferring explicit flags over AIP_* values."""
  checkpoint_dir = os.environ.get("AIP_CHECKPOINT_DIR", "")
  if checkpoint_dir and not train_dir_given:
    train_dir = checkpoint_dir
  dirs = JobDirs(train_dir=train_dir,
                 summary_dir=os.environ.get("AIP_TENSORBOARD_LOG_DIR", "") or
                 train_dir,
                 model_dir=os.environ.get("AIP_MODEL_DIR", ""))
  found = {k: os.environ[k] for k in ("AIP_CHECKPOINT_DIR", "AIP_MODEL_DIR",
                                      "AIP_TENSORBOARD_LOG_DIR",
                                      "CLOUD_ML_JOB_ID") if k in os.environ}
  if found:
    logging.info("Vertex AI job environment: %s", found)
    logging.info("Checkpoints in %s, TensorBoard scalars in %s, final "
                 "SavedModel in %s", dirs.train_dir, dirs.summary_dir,
                 dirs.model_dir or "(none)")
  return dirs


def tensorboard_dir(subdir):
  """AIP_TENSORBOARD_LOG_DIR/subdir on Vertex AI, else None (the default)."""
  logs = os.environ.get("AIP_TENSORBOARD_LOG_DIR", "")
  return os.path.join(logs, subdir) if logs else None
