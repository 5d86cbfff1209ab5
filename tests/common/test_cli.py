"""cli.py: user errors become one line on stderr and exit status 1."""

import errno
import subprocess
import sys

import pytest
import tensorflow as tf

from youtube8m.common import cli
from youtube8m.common import utils

from support import workflow_helpers as wh


def _exit_and_stderr(error, capsys, argv=("prog",)):
  def main(argv):
    del argv
    raise error
  with pytest.raises(SystemExit) as info:
    cli.run(main, argv=list(argv))
  return info.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("error, expected", [
    (utils.Yt8mError("--top_k=0: expected 1..3862"),
     "error: --top_k=0: expected 1..3862"),
    (tf.errors.NotFoundError(None, None, "gs://b/x: no such file"),
     "error: not found: gs://b/x: no such file"),
    (FileNotFoundError(errno.ENOENT, "No such file", "/nonexistent/f"),
     "error: not found: "),
    (cli.UsageError("--train_data_pattern is required"),
     "error: --train_data_pattern is required"),
    (OSError(errno.ENOSPC, "No space left on device", "/full/ckpt-5.data"),
     "error: no space left on the device writing /full/ckpt-5.data"),
    (tf.errors.ResourceExhaustedError(
        None, None, "could not write /x/p.csv: No space left on device"),
     "error: no space left on the device (could not write /x/p.csv"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"),
     "error: permission denied: "),
    (OSError(errno.EROFS, "Read-only file system", "/ro/run/.train.lock"),
     "error: read-only file system: cannot write /ro/run/.train.lock"),
])
def test_user_errors_are_one_line(error, expected, capsys):
  code, lines = _exit_and_stderr(error, capsys)
  assert code == 1
  assert lines[-1].startswith(expected), lines[-3:]
  assert len([l for l in lines if l.startswith("error:")]) == 1


def test_positional_arguments_are_refused(capsys):
  with pytest.raises(SystemExit) as info:
    cli.run(cli.check_no_positional_args, argv=["prog", "stray"])
  assert info.value.code == 1
  assert "unexpected arguments ['stray']" in capsys.readouterr().err


@pytest.mark.slow
def test_a_bug_keeps_its_traceback():
  result = subprocess.run(
      [sys.executable, "-c", "from youtube8m.common import cli\n"
       "def main(argv):\n  raise KeyError('internal')\ncli.run(main)"],
      env=wh.script_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert "Traceback" in result.stderr and "KeyError" in result.stderr


def test_ctrl_c_and_signals_stop_in_one_line(capsys):
  code, lines = _exit_and_stderr(KeyboardInterrupt(), capsys)
  assert code == 130 and len(lines) == 1 and "stopped by SIGINT" in lines[0]
  code, lines = _exit_and_stderr(utils.Stopped("stopped by SIGTERM after "
                                               "step 5", 143), capsys)
  assert code == 143 and len(lines) == 1
  assert lines[0].endswith("stopped by SIGTERM after step 5")


def test_a_closed_stdout_pipe_stops_quietly():
  """`python -m youtube8m.label_video ... | head`: no BrokenPipeError."""
  process = subprocess.Popen(
      [sys.executable, "-c", "from youtube8m.common import cli\n"
       "def main(argv):\n  for i in range(100000):\n    print(i)\n"
       "cli.run(main)"], env=wh.script_env(), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE)
  process.stdout.close()  # the reader is gone before the first line
  stderr = process.stderr.read().decode()
  assert process.wait(timeout=60) == 141, stderr
  assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
