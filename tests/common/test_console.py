"""console.py: the scripts hide TensorFlow's C++ start-up lines, and lose
no line of a crash.

No test here depends on what a TensorFlow build prints: the filter is fed
start-up lines written by the test itself.
"""

import os
import signal
import subprocess
import sys
import textwrap

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


NOISE_LINE = ("I0000 00:00:1 123 port.cc:153] oneDNN custom operations are "
              "on. You may see slightly different numerical results.")


def _pumped(data):
  """What console's filter passes of `data` written to a pipe and closed."""
  source_read, source_write = os.pipe()
  sink_read, sink_write = os.pipe()
  os.write(source_write, data)
  os.close(source_write)
  console._pump(source_read, sink_write)  # pylint: disable=protected-access
  os.close(source_read)
  os.close(sink_write)
  with os.fdopen(sink_read, "rb") as sink:
    return sink.read()


def test_the_filter_drops_start_up_lines_and_keeps_the_rest_in_order():
  data = (NOISE_LINE.encode() + b"\nfirst\n" + NOISE_LINE.encode() +
          b"\nsecond\nlast words without a newline")
  assert _pumped(data) == b"first\nsecond\nlast words without a newline"
  assert _pumped(b"") == b""


# A child that installs the filter, writes a start-up line, a report of many
# lines and a last line without newline straight to file descriptor 2 (as
# C++ does), then dies in the way argv[1] names.
_CHILD = textwrap.dedent("""
    import os, signal, sys
    from youtube8m.common import console
    if not console.quiet(sys.argv[2:]):
      sys.exit("the filter is not on")
    os.write(2, NOISE + b"\\n")
    for i in range(LINES):
      os.write(2, b"report line %d\\n" % i)
    os.write(2, b"F0000 check.cc:1] Check failed: last words")
    how = sys.argv[1]
    if how == "abort":
      os.abort()
    elif how == "segfault":
      os.kill(os.getpid(), signal.SIGSEGV)
    elif how == "sigkill":
      os.kill(os.getpid(), signal.SIGKILL)
    elif how == "exit":
      os._exit(3)
    else:
      sys.stderr.write("\\n")  # a normal end, through Python's stderr
""")
_LINES = 3000


def _child(tmp_path, how, *args, **env):
  script = tmp_path / "child.py"
  script.write_text(_CHILD.replace("NOISE", repr(NOISE_LINE.encode()))
                    .replace("LINES", str(_LINES)))
  environment = wh.script_env()
  environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
  environment.update(env)
  return subprocess.run([sys.executable, str(script), how, *args],
                        cwd=wh.REPO, env=environment, capture_output=True,
                        timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("how, status", [
    ("abort", -signal.SIGABRT), ("segfault", -signal.SIGSEGV),
    ("sigkill", -signal.SIGKILL), ("exit", 3), ("normal", 0)])
def test_a_crash_loses_no_line(tmp_path, how, status):
  result = _child(tmp_path, how)
  assert result.returncode == status, result.stderr[-500:]
  lines = result.stderr.decode().splitlines()
  assert lines == [f"report line {i}" for i in range(_LINES)] + [
      "F0000 check.cc:1] Check failed: last words"]


@pytest.mark.slow
def test_the_filter_is_off_when_the_user_asks(tmp_path):
  loud = [_child(tmp_path, "exit", TF_CPP_MIN_LOG_LEVEL="0"),
          _child(tmp_path, "exit", "--verbosity=1")]
  for result in loud:
    assert result.returncode == 1, result.stderr[-500:]
    assert b"the filter is not on" in result.stderr


@pytest.mark.slow
def test_scripts_are_quiet(tmp_path):
  args = ["-m", "youtube8m.make_dataset", f"--output_dir={tmp_path}",
          "--num_train=4", "--num_validate=2", "--num_test=2",
          "--segments=false", "--num_classes=100"]
  quiet = _run(args)
  assert quiet.returncode == 0, quiet.stderr
  assert "wrote 4 train" in quiet.stdout
  assert not any(text in quiet.stderr for text in START_UP), quiet.stderr
  # Errors still come through the filter, last, in one line.
  bad = _run(["train.py", "--train_data_pattern=/nonexistent/*.tfrecord",
              f"--train_dir={tmp_path}/run"])
  assert bad.returncode == 1
  lines = bad.stderr.strip().splitlines()
  assert lines[-1] == (
      "error: --train_data_pattern '/nonexistent/*.tfrecord' matches no file")
  assert not any(text in bad.stderr for text in START_UP + ("Traceback",))
