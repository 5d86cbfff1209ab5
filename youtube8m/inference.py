r"""Writes Kaggle predictions: `python inference.py --input_data_pattern=...`.

  python inference.py --train_dir=/tmp/yt8m_model/video_level_logistic \
      --input_data_pattern='/data/video/test*.tfrecord' \
      --output_file=/tmp/yt8m_model/video_level_logistic/predictions.csv

The model comes from --train_dir (latest checkpoint), --saved_model_dir (an
export) or --input_model_tgz (made by --output_model_tgz).
"""

from absl import flags

from youtube8m import cli
from youtube8m import inference_lib

FLAGS = flags.FLAGS
_D = inference_lib.InferenceConfig()

flags.DEFINE_string("train_dir", _D.train_dir,
                    "Training directory to load the latest checkpoint from "
                    "(or an exported SavedModel directory).")
flags.DEFINE_string("input_data_pattern", "",
                    "Glob of TFRecords to predict (local or gs://).")
flags.DEFINE_string("output_file", "", "Where the Kaggle CSV goes.")
flags.DEFINE_string("saved_model_dir", "",
                    "Predict with this exported SavedModel instead.")
flags.DEFINE_string("input_model_tgz", "",
                    "Predict with a model packed by --output_model_tgz.")
flags.DEFINE_string("untar_model_dir", _D.untar_model_dir,
                    "Where --input_model_tgz is extracted.")
flags.DEFINE_string("output_model_tgz", "",
                    "Also pack train_dir's latest checkpoint and "
                    "model_flags.json into this .tar.gz.")
flags.DEFINE_integer("top_k", _D.top_k, "Predictions per video.")
flags.DEFINE_integer("batch_size", _D.batch_size, "Examples per batch.")
flags.DEFINE_integer("num_readers", _D.num_readers, "Files read in parallel "
                     "(the output order stays fixed).")
flags.DEFINE_string("readable_output_file", "",
                    "Optional file of the same predictions with label names.")
flags.DEFINE_string("vocabulary_file", "",
                    "Vocabulary CSV for --readable_output_file (default: the "
                    "shipped 2018 vocabulary.csv).")
flags.DEFINE_bool("segment_labels", _D.segment_labels,
                  "2019 task: cut frame-level videos into 5-second segments "
                  "and write Class,Segments rows (a frame-level checkpoint).")
flags.DEFINE_integer("segment_max_pred", _D.segment_max_pred,
                     "Most segments per class in --segment_labels output.")
flags.DEFINE_string("segment_label_ids_file", _D.segment_label_ids_file,
                    "CSV (header 'Index') of the classes to predict with "
                    "--segment_labels, local or gs:// (default: the 1000 "
                    "classes of the 2019 challenge, shipped with the "
                    "package).")
cli.define_model_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  if FLAGS.output_file and not FLAGS.input_data_pattern:
    raise cli.UsageError("--input_data_pattern is required")
  values, explicit = cli.model_flags_given()
  inference_lib.infer(inference_lib.InferenceConfig(
      train_dir=FLAGS.train_dir, input_data_pattern=FLAGS.input_data_pattern,
      output_file=FLAGS.output_file, saved_model_dir=FLAGS.saved_model_dir,
      input_model_tgz=FLAGS.input_model_tgz,
      untar_model_dir=FLAGS.untar_model_dir,
      output_model_tgz=FLAGS.output_model_tgz, model_flags=values,
      explicit_flags=frozenset(explicit), top_k=FLAGS.top_k,
      batch_size=FLAGS.batch_size, num_readers=FLAGS.num_readers,
      readable_output_file=FLAGS.readable_output_file,
      vocabulary_file=FLAGS.vocabulary_file,
      segment_labels=FLAGS.segment_labels,
      segment_max_pred=FLAGS.segment_max_pred,
      segment_label_ids_file=FLAGS.segment_label_ids_file))


if __name__ == "__main__":
  cli.run(main)
