"""train.py's settings: one dataclass field per flag, with help and check.

train.py defines its flags from these fields (settings.define_flags), and
train_lib.train takes the filled-in dataclass, so a setting's name, default,
type, help and check are written once, here. The defaults are the starter
code's. No TensorFlow here: train.py checks these before TensorFlow loads.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import data_service_config
from youtube8m.models import model_config

LOG_METRICS_EVERY = 10  # steps; the seed logged Hit@1/PERR/GAP every 10
# The seed's optimizer names (trainer.OPTIMIZERS builds them).
OPTIMIZERS = ("AdamOptimizer", "AdagradOptimizer", "GradientDescentOptimizer",
              "MomentumOptimizer", "RMSPropOptimizer")
MIXED_PRECISION = ("mixed_float16", "mixed_bfloat16")
# The library defaults (distribution.DEFAULT_COLLECTIVE_TIMEOUT_SECS,
# train_lock.DEFAULT_STALE_SECS), repeated here to keep TensorFlow out.
DEFAULT_COLLECTIVE_TIMEOUT_SECS = 900
DEFAULT_LOCK_STALE_SECS = 600.0


def check_mixed_precision(flag, value):
  """Check (youtube8m.common.checks style): "" or one of MIXED_PRECISION."""
  if value not in ("",) + MIXED_PRECISION:
    raise utils.Yt8mError(
        f"--{flag}={value!r} is invalid: use {MIXED_PRECISION[0]}, "
        f"{MIXED_PRECISION[1]} or '' (float32)"
        f"{checks.closest(value, MIXED_PRECISION)}")


@dataclasses.dataclass
class TrainConfig:
  """Every train.py setting, with the seed's flag names and defaults."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "Checkpoints, summaries, model_flags.json and "
      "exports.")
  train_data_pattern: str = settings.setting(
      "", "Glob of training TFRecords (local or gs://).", required=True)
  start_new_model: bool = settings.setting(
      False, "Remove this train_dir's checkpoints and start afresh.")
  num_gpu: int = settings.setting(
      None, "Most GPUs to use (default: every visible GPU).",
      check=checks.optional(checks.non_negative_int))
  batch_size: int = settings.setting(
      1024, "Examples per replica (each GPU gets a full batch).",
      check=checks.positive_int)
  regularization_penalty: float = settings.setting(
      1.0, "Weight of the regularization loss.",
      check=checks.non_negative)
  base_learning_rate: float = settings.setting(
      0.01, "Learning rate before decay.",
      check=checks.positive)
  learning_rate_decay: float = settings.setting(
      0.95, "Decay factor per --learning_rate_decay_examples.",
      check=checks.unit_interval)
  learning_rate_decay_examples: int = settings.setting(
      4000000, "Examples between learning rate decays (staircase).",
      check=checks.positive_int)
  num_epochs: int = settings.setting(
      5, "Passes over the data (0 or less: no limit).",
      check=checks.optional(checks.finite))
  max_steps: int = settings.setting(
      None, "Stop after this many steps.",
      check=checks.optional(checks.positive_int))
  export_model_steps: int = settings.setting(
      1000, "Checkpoint and export every this many steps.",
      check=checks.non_negative_int)
  save_checkpoint_secs: float = settings.setting(
      600, "Also checkpoint after this many seconds.",
      check=checks.positive)
  num_readers: int = settings.setting(
      8, "Files read in parallel.", check=checks.positive_int)
  optimizer: str = settings.setting(
      "AdamOptimizer", "AdamOptimizer, AdagradOptimizer, MomentumOptimizer, "
      "GradientDescentOptimizer or RMSPropOptimizer.",
      check=checks.choice(OPTIMIZERS))
  clip_gradient_norm: float = settings.setting(
      1.0, "Clip each gradient tensor to this norm (<= 0: off).",
      check=checks.finite)
  log_device_placement: bool = settings.setting(
      False, "Log the device of every op.")
  seed: int = settings.setting(
      None, "Seed for shuffling and initialization.")
  collective_timeout_secs: float = settings.setting(
      DEFAULT_COLLECTIVE_TIMEOUT_SECS,
      "Multi-worker (TF_CONFIG) only: fail with an error when an all-reduce "
      "has waited this long for the other workers (<= 0: wait forever). A "
      "dead peer is detected sooner, by missed heartbeats; this catches a "
      "stuck one. Keep it above the longest checkpoint/export time.",
      check=checks.finite)
  segment_labels: bool = settings.setting(
      False, "Train on the rated 5-frame segments of 2019 frame-level "
      "records (segment_labels/segment_start_times/segment_scores); the "
      "loss counts only rated classes.")
  init_from_checkpoint: str = settings.setting(
      "", "Start this (new) train_dir from the model weights and "
      "model_flags.json of another train_dir or checkpoint prefix, e.g. to "
      "fine-tune a video-level model on segments (see warm_start.py). "
      "Ignored once train_dir has its own checkpoint.")
  ema_decay: float = settings.setting(
      0.0, "Keep an exponential moving average of the weights with this "
      "decay per step (e.g. 0.999; 0: off); eval, inference and exports "
      "use the averaged weights (ema.py).", check=checks.fraction)
  mixed_precision: str = settings.setting(
      "", "Train with layers computing in float16 ('mixed_float16', with "
      "dynamic loss scaling) or bfloat16 ('mixed_bfloat16'); variables, "
      "checkpoints and exports stay float32 ('': float32 throughout).",
      check=check_mixed_precision)
  log_every_steps: int = settings.setting(
      LOG_METRICS_EVERY, "Log a progress line (loss, Hit@1, PERR, GAP, "
      "examples/s, ETA) and write the training summaries every this many "
      "steps.", check=checks.positive_int)
  skip_nonfinite_examples: bool = settings.setting(
      False, "Drop training videos whose features hold NaN or inf (counted "
      "in the log) instead of stopping with an error naming them.")
  lock_stale_secs: float = settings.setting(
      DEFAULT_LOCK_STALE_SECS, "A train_dir lock of another host is "
      "taken over when its heartbeat is older than this (a lock of this "
      "host, when its process is gone).", check=checks.positive)
  teacher: str = settings.setting(
      "", "Distill: an exported SavedModel (export_model.py, also an "
      "--ensemble export) whose scores on each batch are mixed into the "
      "loss targets: (1 - --distill_weight) x labels + --distill_weight x "
      "its scores (distillation.py).")
  distill_weight: float = settings.setting(
      0.5, "With --teacher: the weight W of the teacher's scores in the "
      "targets, in [0, 1].", check=checks.probability)
  max_checkpoints_to_keep: int = settings.setting(
      5, "Checkpoints kept in train_dir (older ones are deleted); raise it "
      "to average more of them (python -m youtube8m.average_checkpoints).",
      check=checks.positive_int)
  data_service_address: str = settings.setting(
      "", "host:port of a tf.data service dispatcher (python -m "
      "youtube8m.data_service dispatcher): reading, parsing and batching "
      "run on its workers, each file of an epoch read once "
      "(youtube8m/data/data_service.py); tf_config: the dispatcher of the "
      "Vertex AI data-service pool (configs/train-data-service.yaml).",
      check=data_service_config.check_address)
  # model_flags.json content given on the command line, and the typed flags.
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
  summary_dir: str = ""  # TensorBoard scalars; default train_dir
  final_export_dir: str = ""  # a SavedModel written at the end (AIP_MODEL_DIR)
