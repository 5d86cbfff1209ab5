"""Settings of inference.py and label_video, without TensorFlow.

The commands define their flags from these fields and check them before
TensorFlow loads; inference_lib, segment_inference and label_video_lib take
the filled-in dataclasses.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import plots
from youtube8m.common import settings
from youtube8m.data import data_service_config
from youtube8m.evaluation import eval_config
from youtube8m.features import extract_config
from youtube8m.models import model_config

# model_archive.DEFAULT_MAX_BYTES and the readers' frame limit, repeated here
# to keep TensorFlow out (tests/prediction/test_inference_config.py).
DEFAULT_MAX_BYTES = 4 * 1024 ** 3
READER_FRAMES = 300
DEFAULT_BATCH_SIZE = 512  # the seed's


@dataclasses.dataclass
class InferenceConfig:
  """Every inference.py setting (segment mode adds its own, see
  segment_inference.SegmentInferenceConfig)."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "Training directory to load the latest checkpoint "
      "from (or an exported SavedModel directory).")
  input_data_pattern: str = settings.setting(
      "", "Glob of TFRecords to predict (local or gs://).")
  output_file: str = settings.setting("", "Where the Kaggle CSV goes.")
  saved_model_dir: str = settings.setting(
      "", "Predict with this exported SavedModel instead.")
  input_model_tgz: str = settings.setting(
      "", "Predict with a model packed by --output_model_tgz.")
  untar_model_dir: str = settings.setting(
      "/tmp/yt8m-model/", "Where --input_model_tgz is extracted (replaced "
      "if it holds an earlier extraction; never a symbolic link).")
  untar_max_bytes: int = settings.setting(
      DEFAULT_MAX_BYTES, "Most bytes the files of "
      "--input_model_tgz may hold once extracted.", checks.positive_int)
  output_model_tgz: str = settings.setting(
      "", "Also pack train_dir's latest checkpoint and model_flags.json into "
      "this .tar.gz.")
  top_k: int = settings.setting(
      20, "Predictions per video: 1 to the model's number of classes.",
      checks.positive_int)
  batch_size: int = settings.setting(
      None, f"Examples per batch (default: {DEFAULT_BATCH_SIZE}; for "
      "frame-level data the largest power of 2 up to that which fits "
      "--memory_budget_gb).", checks.optional(checks.positive_int))
  memory_budget_gb: float = settings.setting(
      eval_config.DEFAULT_MEMORY_BUDGET_GB, "Memory that frame-level "
      "batches may take (their data and the model's activations, estimated "
      "from the model; TensorFlow adds about 1 GB): picks the default "
      "--batch_size, and a --batch_size beyond it is warned about.",
      checks.positive)
  xla: bool = settings.setting(False, eval_config.XLA_HELP)
  data_service_address: str = settings.setting(
      "", "host:port of a tf.data service dispatcher: reading, parsing and "
      "batching run on its workers (a checkpoint model only); the rows "
      "come in no fixed order (youtube8m/data/data_service.py).",
      check=data_service_config.check_address)
  num_readers: int = settings.setting(
      1, "Files read in parallel (the output order stays fixed).",
      checks.positive_int)
  readable_output_file: str = settings.setting(
      "", "Optional file of the same predictions with label names.")
  vocabulary_file: str = settings.setting(
      "", "Vocabulary CSV for --readable_output_file (default: the shipped "
      "2018 vocabulary.csv).")
  # model_flags.json entries given on the command line, and the typed ones.
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()


@dataclasses.dataclass
class SegmentInferenceConfig(InferenceConfig):
  """inference.py's settings plus those of `--segment_labels`."""
  segment_labels: bool = settings.setting(
      False, "2019 task: cut frame-level videos into 5-second segments "
      "and write Class,Segments rows (a frame-level checkpoint).")
  segment_max_pred: int = settings.setting(
      100000, "Most segments per class in --segment_labels output.")
  segment_label_ids_file: str = settings.setting(
      "", "CSV (header 'Index') of the classes to predict with "
      "--segment_labels, local or gs:// (default: the 1000 classes of the "
      "2019 challenge, shipped with the package).")
  video_prior_weight: float = settings.setting(
      0.0, "--segment_labels: rank segments by video ** a x segment ** "
      "(1 - a), with a this weight and video the whole video's score for "
      "the class (0: the segment's score alone; segment_rerank.py).",
      check=checks.probability)
  fill_from_video_ranking: bool = settings.setting(
      False, "--segment_labels: fill each class's list with the segments "
      "of its best videos by whole-video score, whole videos in that order "
      "until --segment_max_pred segments, ranked as usual.")
  video_prior_train_dir: str = settings.setting(
      "", "--segment_labels: the frame-level train_dir whose model gives the "
      "whole-video scores of --video_prior_weight and "
      "--fill_from_video_ranking (e.g. the video-level model before "
      "fine-tuning on segments); default: the segment model.")


@dataclasses.dataclass
class LabelConfig(extract_config.ModelFilesConfig):
  """label_video's settings: the model, its outputs, the feature networks' files."""
  train_dir: str = settings.setting(
      "", "Training directory of the model (latest checkpoint and "
      "model_flags.json), or an exported SavedModel directory.")
  saved_model_dir: str = settings.setting(
      "", "Label with this exported SavedModel instead.")
  input_model_tgz: str = settings.setting(
      "", "Label with a model packed by --output_model_tgz.")
  untar_model_dir: str = settings.setting(
      "/tmp/yt8m-model/", "Where --input_model_tgz is extracted.")
  untar_max_bytes: int = settings.setting(
      DEFAULT_MAX_BYTES, "Most bytes the files of "
      "--input_model_tgz may hold once extracted.", checks.positive_int)
  top_k: int = settings.setting(5, "Classes printed a video.",
                                checks.positive_int)
  vocabulary_file: str = settings.setting(
      "", "Vocabulary CSV of the class names (default: the shipped 2018 "
      "vocabulary.csv).")
  timeline_png: str = settings.setting(
      "", "Frame-level model: draw the top classes' segment scores over "
      "time into this PNG. With several videos, '{video}' in the name is "
      "replaced by the video's file name (without extension); without it, "
      "PATH.png becomes PATH-<video>.png, one file a video. Needs "
      "matplotlib (pip install 'youtube8m[plots]').",
      plots.requires_matplotlib)
  timeline_classes: int = settings.setting(
      5, "Classes drawn in --timeline_png (the video's best).",
      checks.positive_int)
  segment_classes: int = settings.setting(
      3, "Frame-level model: classes printed for every 5-second segment "
      "(0: none).", checks.non_negative_int)
  max_frames: int = settings.setting(
      READER_FRAMES, "Frames (seconds) of a video used, from its start "
      f"(at most {READER_FRAMES}, the readers' limit).", checks.positive_int)
  batch_size: int = settings.setting(32, "Frames per Inception batch.",
                                     checks.positive_int)
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
