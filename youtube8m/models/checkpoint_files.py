"""The files of `train_dir/ckpt-N` checkpoints: found, written and pruned
by name, never through a glob.

tf.train.latest_checkpoint trusts the `checkpoint` state file and then
globs for the files: it finds nothing when the newest checkpoint's files
were deleted (the fallback an error message suggests) or when the directory
name holds glob characters (`exp[lr=0.01]`), and tf.train.CheckpointManager
deletes old checkpoints with a glob that can match another directory's
files (`run[1]*?/ckpt-1.*` matches `run1ab/ckpt-1.index`). Here:
  - `find_latest` lists the directory: the checkpoint the state file names
    if its files are all there, else the newest complete one;
  - `Writer` saves `ckpt-N` (tf.train.Checkpoint.write), records the state
    file and removes the files of checkpoints beyond `max_to_keep`, each
    by its exact name;
  - a state file that cannot be parsed is ignored (with a warning): the
    files decide.
A checkpoint is complete when its `.index` and every one of its
`.data-K-of-N` shards exist. Names are those of the directory (the state
file's entries count by their last component), so a state file cannot
point anywhere else.
"""

import codecs
import os
import re
import time

from absl import logging
import tensorflow as tf

from youtube8m.common import outputs

STATE_FILE = "checkpoint"
_ENTRY = re.compile(r'^\s*(model_checkpoint_path|all_model_checkpoint_paths)'
                    r'\s*:\s*"((?:[^"\\]|\\.)*)"\s*$')
_FIELD = re.compile(r"^\s*\w+\s*:\s*\S")  # another field of the state file
_DATA = re.compile(r"^(?P<name>.+)\.data-(?P<part>\d+)-of-(?P<parts>\d+)$")
_STEP = re.compile(r"-(\d+)$")


def step_of(name):
  """The global step in a checkpoint name such as ckpt-1000 (else -1)."""
  found = _STEP.search(name)
  return int(found.group(1)) if found else -1


def read_state(directory):
  """([checkpoint names], newest named) of the state file, or ([], None).

  The entries are the names as written (maybe a path); a missing or
  unparsable file gives nothing.
  """
  path = os.path.join(directory, STATE_FILE)
  try:
    with tf.io.gfile.GFile(path, "rb") as f:
      text = f.read().decode("utf-8")
  except tf.errors.NotFoundError:
    return [], None
  except tf.errors.OpError as e:  # a directory, no permission, ...
    logging.warning("cannot read %s (%s); looking at the checkpoint files "
                    "themselves", path, e.message.splitlines()[0])
    return [], None
  except UnicodeDecodeError:
    text = "\x00"  # binary garbage
  entries, latest, garbage = [], None, False
  for line in text.splitlines():
    match = _ENTRY.match(line)
    if match:
      value = codecs.escape_decode(match.group(2).encode("utf-8"))[0]
      value = value.decode("utf-8", "replace")
      if match.group(1) == "model_checkpoint_path":
        latest = value
      elif value not in entries:
        entries.append(value)
    elif line.strip() and not _FIELD.match(line):
      garbage = True
  if garbage:
    logging.warning("%s is not a checkpoint state file; ignoring it and "
                    "looking at the checkpoint files themselves", path)
    return [], None
  return entries, latest


def _files(directory):
  try:
    return {name.rstrip("/") for name in tf.io.gfile.listdir(directory)}
  except tf.errors.NotFoundError:
    return set()


def _complete_names(files):
  """Names whose .index and every data shard are in `files`."""
  shards = {}
  for name in files:
    match = _DATA.match(name)
    if match:
      shards.setdefault((match["name"], int(match["parts"])), set()).add(
          int(match["part"]))
  complete = set()
  for name in files:
    if not name.endswith(".index"):
      continue
    prefix = name[:-len(".index")]
    counts = [parts for (n, parts) in shards if n == prefix]
    if len(counts) == 1 and shards[(prefix, counts[0])] == set(
        range(counts[0])):
      complete.add(prefix)
  return complete


def complete_checkpoints(directory):
  """Names of the complete checkpoints in `directory`, oldest first."""
  return sorted(_complete_names(_files(directory)),
                key=lambda name: (step_of(name), name))


def find_latest(directory):
  """The prefix of the newest complete checkpoint in `directory`, or None.

  The state file's choice wins when its files are complete (a run killed
  between writing ckpt-N and the state file resumes from the one before,
  as TensorFlow would); otherwise the newest complete checkpoint by step.
  """
  files = _files(directory)
  complete = _complete_names(files)
  _, named = read_state(directory)
  named = os.path.basename(named) if named else None
  if named in complete:
    return os.path.join(directory, named)
  if not complete:
    return None
  newest = max(complete, key=lambda name: (step_of(name), name))
  if named:
    logging.warning("%s names %s, whose files are missing or incomplete; "
                    "using %s, the newest complete checkpoint",
                    os.path.join(directory, STATE_FILE), named, newest)
  return os.path.join(directory, newest)


def iterate(directory, min_interval_secs=0, timeout=None):
  """Yields each new latest checkpoint of `directory` once, as it appears.

  Stops after `timeout` seconds without a new one (None: never).
  """
  last, last_new = None, time.time()
  while True:
    latest = find_latest(directory)
    if latest is not None and latest != last:
      last, last_new = latest, time.time()
      yield latest
      continue
    if timeout is not None and time.time() - last_new > timeout:
      return
    time.sleep(min_interval_secs)


def _state_text(latest, names):
  lines = [f'model_checkpoint_path: "{latest}"']
  lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
  return "\n".join(lines) + "\n"


class Writer:
  """Saves numbered checkpoints and keeps the newest `max_to_keep`.

  What tf.train.CheckpointManager did here, with literal names: the
  checkpoints it manages are those the state file lists (an earlier run's
  included); others in the directory are never deleted.
  """

  def __init__(self, checkpoint, directory, max_to_keep=5,
               checkpoint_name="ckpt"):
    self._checkpoint, self.directory = checkpoint, directory
    self._max_to_keep, self._name = max_to_keep, checkpoint_name
    entries, _ = read_state(directory)
    self._kept = [os.path.basename(e) for e in entries]
    self.latest_checkpoint = find_latest(directory)

  def save(self, checkpoint_number):
    """Writes `ckpt-<checkpoint_number>`; returns its prefix."""
    # As CheckpointManager: the counter is saved and restored with the rest.
    self._checkpoint.save_counter.assign_add(1)
    name = f"{self._name}-{int(checkpoint_number)}"
    prefix = self._checkpoint.write(os.path.join(self.directory, name))
    if name in self._kept:
      self._kept.remove(name)
    self._kept.append(name)
    self.latest_checkpoint = prefix
    # The new checkpoint is recorded before old ones go, so a kill while
    # deleting still finds it.
    self._record()
    if self._max_to_keep and len(self._kept) > self._max_to_keep:
      old, self._kept = (self._kept[:-self._max_to_keep],
                         self._kept[-self._max_to_keep:])
      self._delete(old)
      self._record()
    return prefix

  def _record(self):
    outputs.write_file(os.path.join(self.directory, STATE_FILE),
                       lambda f: f.write(_state_text(self._kept[-1],
                                                     self._kept)))

  def _delete(self, names):
    doomed = set(names)
    for file_name in _files(self.directory):
      match = _DATA.match(file_name)
      stem = match["name"] if match else (
          file_name[:-len(".index")] if file_name.endswith(".index")
          else None)
      if stem in doomed:
        outputs.remove(os.path.join(self.directory, file_name))
