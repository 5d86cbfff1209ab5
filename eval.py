r"""Evaluates a YouTube-8M model; see youtube8m/eval.py for the flags.

  python eval.py --eval_data_pattern='/path/to/features/validate*.tfrecord' \
      --train_dir=/tmp/yt8m/video_level_logistic_model --run_once=True
"""

from absl import flags

from youtube8m import eval as eval_main
from youtube8m.common import cli

# --help lists the flags of youtube8m/eval.py, not only --helpfull.
flags.adopt_module_key_flags(eval_main)

if __name__ == "__main__":
  cli.run(eval_main.main)
