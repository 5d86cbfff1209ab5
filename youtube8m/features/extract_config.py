"""Settings of extract_features (and the model files label_video also
reads), without TensorFlow: the commands check them before TensorFlow loads.

The published model files, their URLs and names are here too, as the
settings' defaults; model_files.py fetches and checks them.
"""

import dataclasses
import os

from youtube8m.common import checks
from youtube8m.common import settings

INCEPTION_URL = ("http://download.tensorflow.org/models/image/imagenet/"
                 "inception-2015-12-05.tgz")
PCA_URL = "http://data.yt8m.org/yt8m_pca.tgz"
VGGISH_PCA_URL = "https://storage.googleapis.com/audioset/vggish_pca_params.npz"
VGGISH_MODEL_URL = "https://tfhub.dev/google/vggish/1"

INCEPTION_GRAPH = "classify_image_graph_def.pb"
PCA_FILES = ("mean.npy", "eigenvals.npy", "eigenvecs.npy")
VGGISH_DIR = "vggish"
VGGISH_PCA_FILE = "vggish_pca_params.npz"


@dataclasses.dataclass
class ModelFilesConfig:
  """Where the feature networks' files are, and where missing ones come
  from (model_files.locate)."""
  model_dir: str = settings.setting(
      os.path.join(os.path.expanduser("~"), "yt8m"),
      "Directory of the model files (local or gs://): "
      f"{INCEPTION_GRAPH}, {', '.join(PCA_FILES)}, downloaded here when "
      f"missing; optionally {VGGISH_DIR}/ and {VGGISH_PCA_FILE}.")
  vggish_model: str = settings.setting(
      "", "VGGish SavedModel directory (TF Hub vggish signature). Default: "
      "<model_dir>/vggish, used when present.")
  vggish_pca_params: str = settings.setting(
      "", "AudioSet's vggish_pca_params.npz. Default: "
      "<model_dir>/vggish_pca_params.npz (downloaded when missing and a "
      "VGGish model is used).")
  download: bool = settings.setting(
      True, "Fetch missing model files from their published URLs.")
  inception_url: str = settings.setting(
      INCEPTION_URL, f"Where {INCEPTION_GRAPH} is fetched from (end it in "
      "#sha256=HEX to have the download checked).")
  pca_url: str = settings.setting(
      PCA_URL, f"Where {', '.join(PCA_FILES)} are fetched from (#sha256=HEX "
      "as above).")
  vggish_pca_url: str = settings.setting(
      VGGISH_PCA_URL, f"Where {VGGISH_PCA_FILE} is fetched from "
      "(#sha256=HEX as above).")


@dataclasses.dataclass
class ExtractConfig(ModelFilesConfig):
  """Every extract_features setting: the original extractor's flags (same
  defaults), then ours, then the model files'."""
  output_tfrecords_file: str = settings.setting(
      "", "The TFRecord file written (with --num_shards > 1, the prefix of "
      "PATH-00000-of-0000N).", required=True)
  input_videos_csv: str = settings.setting(
      "", "CSV file of lines \"<video_file>,<labels>\", labels being "
      "integers joined with \";\".", required=True)
  frames_per_second: float = settings.setting(
      1.0, "This many frames per second are processed.",
      check=checks.positive)
  skip_frame_level_features: bool = settings.setting(
      False, "Write only the video-level features (mean_*), as "
      "tf.train.Examples the video-level reader accepts.")
  labels_feature_key: str = settings.setting(
      "labels", "Context key of the labels (int64 list).")
  image_feature_key: str = settings.setting(
      "rgb", "Feature list key of the visual features (and mean_<key> in "
      "the context).")
  video_file_feature_key: str = settings.setting(
      "id", "Context key holding <video_file> as written in the CSV.")
  insert_zero_audio_features: bool = settings.setting(
      True, "Without a VGGish model, write 'audio' as 128 zero bytes a "
      "frame (and mean_audio zeros), so that models trained on rgb and "
      "audio accept the records.")
  max_frames: int = settings.setting(
      300, "At most this many frames (from the start) a video.",
      check=checks.positive_int)
  num_shards: int = settings.setting(
      1, "Split the output into this many files PATH-00000-of-0000N, "
      "consecutive CSV rows each; each appears when its videos are done.",
      check=checks.positive_int)
  batch_size: int = settings.setting(
      32, "Frames per Inception batch.", check=checks.positive_int)
