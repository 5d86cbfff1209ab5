"""Helpers for tests that run the command-line scripts in subprocesses."""

import csv
import os
import re
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def script_env(extra=None):
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env.update(extra or {})
  return env


def run_script(args, cwd=None, env=None, timeout=300, check=True):
  """Runs `python <args>` (a script path or ['-m', module, ...])."""
  result = subprocess.run([sys.executable] + list(args), cwd=cwd or REPO,
                          env=script_env(env), capture_output=True,
                          text=True, timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError(f"{args} exited {result.returncode}:\n"
                         f"{result.stderr[-3000:]}")
  return result


def eval_gap(log_text):
  """The GAP of the last `epoch/eval number` line of eval.py's log."""
  values = re.findall(r"epoch/eval number \d+ \| .*?GAP: ([0-9.]+)", log_text)
  assert values, f"no eval summary line in:\n{log_text[-2000:]}"
  return float(values[-1])


def eval_loss(log_text):
  """The Avg_Loss of the last `epoch/eval number` line of eval.py's log."""
  values = re.findall(r"epoch/eval number \d+ \| .*?Avg_Loss: ([-+0-9.eEnaif]+)",
                      log_text)
  assert values, f"no eval summary line in:\n{log_text[-2000:]}"
  return float(values[-1])


def read_predictions(path):
  """{video_id: [(class, score), ...]} from a Kaggle predictions CSV."""
  with open(path) as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["VideoId", "LabelConfidencePairs"], rows[0]
  out = {}
  for video_id, pairs in rows[1:]:
    items = pairs.split()
    out[video_id] = [(int(items[i]), float(items[i + 1]))
                     for i in range(0, len(items), 2)]
  return out


def read_labels(path):
  """{video_id: set of labels} from a ground-truth labels CSV."""
  out = {}
  with open(path) as f:
    for line in f:
      video_id, labels = line.rstrip("\n").split(",", 1)
      out[video_id] = {int(x) for x in labels.split()}
  return out


def gap_from_csv(predictions, labels):
  """GAP computed independently from a predictions CSV and a labels file."""
  scored = []
  positives = 0
  for video_id, truth in labels.items():
    positives += len(truth)
    for cls, score in predictions.get(video_id, []):
      scored.append((score, cls in truth))
  scored.sort(key=lambda item: -item[0])
  hits = np.cumsum([1.0 if positive else 0.0 for _, positive in scored])
  precision = hits / np.arange(1, len(scored) + 1)
  relevant = np.array([positive for _, positive in scored], bool)
  return float(np.sum(precision[relevant]) / max(positives, 1))
