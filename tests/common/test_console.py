"""console.py: the scripts hide TensorFlow's C++ start-up lines."""

import subprocess
import sys

import pytest

from youtube8m.common import console

from support import workflow_helpers as wh

START_UP = ("oneDNN custom operations", "absl::InitializeLog",
            "cpu_feature_guard")


def _run(args, **env):
  environment = wh.script_env()
  environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
  environment.update(env)
  return subprocess.run([sys.executable] + args, cwd=wh.REPO,
                        env=environment, capture_output=True, text=True,
                        timeout=180)


def test_noise_patterns_match_only_start_up_lines():
  assert console.NOISE.search("I0000 00:00:1 123 port.cc:153] oneDNN custom "
                              "operations are on. You may see")
  assert console.NOISE.search("WARNING: All log messages before "
                              "absl::InitializeLog() is called are written")
  for line in ["I1201 train_lib.py:300] training step 10/20 | Loss: 1.2",
               "error: --batch_size=0 is invalid: expected a positive integer",
               "Traceback (most recent call last):"]:
    assert not console.NOISE.search(line)


def test_verbosity_keeps_the_lines():
  assert console._verbose_requested(["x", "--verbosity=1"])  # pylint: disable=protected-access
  assert console._verbose_requested(["x", "-v", "2"])  # pylint: disable=protected-access
  assert not console._verbose_requested(["x", "--verbosity=0"])  # pylint: disable=protected-access


@pytest.mark.slow
def test_scripts_are_quiet_unless_asked(tmp_path):
  args = ["-m", "youtube8m.make_dataset", f"--output_dir={tmp_path}",
          "--num_train=4", "--num_validate=2", "--num_test=2",
          "--segments=false", "--num_classes=100"]
  quiet = _run(args)
  assert quiet.returncode == 0, quiet.stderr
  assert "wrote 4 train" in quiet.stdout
  assert not any(text in quiet.stderr for text in START_UP), quiet.stderr
  loud = _run(args, TF_CPP_MIN_LOG_LEVEL="0")
  assert "oneDNN custom operations" in loud.stderr
  # Errors still come through the filter, last, in one line.
  bad = _run(["train.py", "--train_data_pattern=/nonexistent/*.tfrecord",
              f"--train_dir={tmp_path}/run"])
  assert bad.returncode == 1
  lines = bad.stderr.strip().splitlines()
  assert lines[-1] == (
      "error: --train_data_pattern '/nonexistent/*.tfrecord' matches no file")
  assert not any(text in bad.stderr for text in START_UP + ("Traceback",))

