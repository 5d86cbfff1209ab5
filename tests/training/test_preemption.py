"""preemption.py: real signals to real train.py and eval.py processes."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from youtube8m.models import checkpoints
from youtube8m.training import train_lock

from support import tiny
from support import workflow_helpers as wh

# Subprocesses: the full suite only.
pytestmark = pytest.mark.slow

MODEL = ["--feature_names=mean_rgb", f"--feature_sizes={tiny.FEATURES}",
         f"--num_classes={tiny.NUM_CLASSES}", "--model=LogisticModel"]


def _as_from_a_terminal(then=None):
  """The child's SIGINT at its default, as a command typed in a terminal
  has it: a pytest started in the background (`cmd &` in a script) runs
  with SIGINT ignored, the children inherit that, and an ignored signal
  rightly stays ignored (`nohup`)."""
  def preexec():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if then:
      then()
  return preexec


def _start(args, log_path, preexec_fn=None):
  log = open(log_path, "w")
  return subprocess.Popen([sys.executable] + args, cwd=wh.REPO,
                          env=wh.script_env(), stdout=subprocess.DEVNULL,
                          stderr=log, preexec_fn=_as_from_a_terminal(
                              preexec_fn))


def _wait_for(log_path, pattern, process, timeout=180):
  deadline = time.time() + timeout
  while time.time() < deadline:
    text = open(log_path).read()
    if re.search(pattern, text):
      return text
    assert process.poll() is None, text[-3000:]
    time.sleep(0.1)
  raise AssertionError(f"no {pattern!r} in:\n{open(log_path).read()[-3000:]}")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143),
                                          (signal.SIGINT, 130)])
def test_a_signal_saves_the_current_step_and_releases_the_lock(
    tmp_path, signum, code):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=16)
  train_dir = str(tmp_path / "run")
  args = ["train.py", f"--train_dir={train_dir}",
          f"--train_data_pattern={path}", "--batch_size=4",
          "--num_epochs=100000", "--export_model_steps=0",
          "--save_checkpoint_secs=1e9", "--log_every_steps=1"] + MODEL
  log_path = tmp_path / "train.log"
  process = _start(args + ["--max_steps=10000000"], log_path)
  try:
    _wait_for(log_path, r"training step 5\b", process)
    process.send_signal(signum)
    assert process.wait(timeout=120) == code
  finally:
    process.kill()
    process.wait()
  text = open(log_path).read()
  assert "Traceback" not in text, text[-3000:]
  name = signal.Signals(signum).name
  stops = re.findall(rf"stopped by {name} after step (\d+): saved (\S+); run "
                     "the same command to resume from it", text)
  assert len(stops) == 1, text[-3000:]
  step, saved = int(stops[0][0]), stops[0][1]
  assert step >= 5 and saved == os.path.join(train_dir, f"ckpt-{step}")
  # The checkpoint of that very step is complete and named by the state file.
  assert checkpoints.latest_checkpoint(train_dir) == saved
  with open(os.path.join(train_dir, "checkpoint")) as f:
    assert f'model_checkpoint_path: "ckpt-{step}"' in f.read()
  assert not os.path.exists(os.path.join(train_dir, train_lock.FILENAME))
  # A restart resumes there.
  result = wh.run_script(args + [f"--max_steps={step + 2}"])
  assert f"Restored {saved} at step {step}" in result.stderr
  assert f"Done training: step {step + 2}" in result.stderr


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143),
                                          (signal.SIGINT, 130),
                                          (signal.SIGHUP, 129)])
def test_other_commands_stop_in_one_line(tmp_path, signum, code):
  """eval.py waiting for checkpoints: no traceback, 128 + the signal."""
  path, _ = tiny.video_file(tmp_path / "v.tfrecord", count=4)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  log_path = tmp_path / "eval.log"
  process = _start(["eval.py", f"--train_dir={train_dir}",
                    f"--eval_data_pattern={path}", "--eval_poll_secs=0.2",
                    "--batch_size=4", "--top_k=3"], log_path)
  try:
    _wait_for(log_path, r"epoch/eval number 7", process)
    process.send_signal(signum)
    assert process.wait(timeout=60) == code
  finally:
    process.kill()
    process.wait()
  text = open(log_path).read()
  assert "Traceback" not in text, text[-3000:]
  assert f"stopped by {signal.Signals(signum).name}" in text


def test_an_ignored_sighup_stays_ignored(tmp_path):
  """`nohup python train.py ...`: closing the terminal must not stop it."""
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=16)
  log_path = tmp_path / "train.log"
  process = _start(
      ["train.py", f"--train_dir={tmp_path / 'run'}",
       f"--train_data_pattern={path}", "--batch_size=4", "--num_epochs=0",
       "--max_steps=10000000", "--export_model_steps=0",
       "--log_every_steps=1"] + MODEL, log_path,
      preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
  try:
    _wait_for(log_path, r"training step 3\b", process)
    process.send_signal(signal.SIGHUP)
    text = _wait_for(log_path, r"training step 40\b", process)
    assert "stopped by" not in text
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
  finally:
    process.kill()
    process.wait()
