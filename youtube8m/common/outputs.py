"""Outputs that appear whole or not at all, local or on gs://.

Every file or directory the package writes (model_flags.json, CSVs, model
archives, SavedModel exports) is written under a temporary name next to its
final path, then renamed into place. The temporary name is recognisable,

  <final name>.yt8m-tmp-<host>-<pid>

so a later run can remove what a killed one left behind (`remove_stale`).
On gs:// a rename copies objects one by one, but a crash then leaves only
the temporary name, never half of the final one.
"""

import os
import re
import socket
import time

from absl import logging
import tensorflow as tf

_TAG = ".yt8m-tmp-"
_STALE = re.compile(re.escape(_TAG) + r"(?P<host>.+)-(?P<pid>\d+)/?$")
# A temporary output of another host is left alone until it is this old:
# its writer may still be running.
_FOREIGN_AGE_SECS = 24 * 3600


def temp_path(path):
  """The temporary name under which `path` is written."""
  return f"{path.rstrip('/')}{_TAG}{socket.gethostname()}-{os.getpid()}"


def _remove(path):
  if tf.io.gfile.isdir(path):
    tf.io.gfile.rmtree(path)
  elif tf.io.gfile.exists(path):
    tf.io.gfile.remove(path)


def write_file(path, write_fn, mode="w"):
  """Calls write_fn(file) on a temporary file, then renames it to `path`.

  Returns:
    What write_fn returned. On an error nothing appears at `path` (an older
    file there stays) and the temporary file is removed.
  """
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  tmp = temp_path(path)
  try:
    with tf.io.gfile.GFile(tmp, mode) as f:
      result = write_fn(f)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  finally:
    _remove(tmp)
  return result


def copy_file(local_path, path):
  """Copies a finished local file to `path` (local or gs://), whole."""
  tmp = temp_path(path)
  try:
    tf.io.gfile.copy(local_path, tmp, overwrite=True)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  finally:
    _remove(tmp)


def write_dir(path, write_fn):
  """Calls write_fn(tmp_dir) to fill a temporary directory, renamed to `path`.

  An existing directory at `path` is replaced only once the new one is
  complete.
  """
  tmp = temp_path(path)
  _remove(tmp)
  try:
    result = write_fn(tmp)
    if tf.io.gfile.exists(path):
      tf.io.gfile.rmtree(path)
    tf.io.gfile.rename(tmp, path)
  finally:
    _remove(tmp)
  return result


def _is_stale(name, full_path):
  match = _STALE.search(name)
  if not match:
    return False
  if match["host"] == socket.gethostname():
    pid = int(match["pid"])
    if pid == os.getpid():
      return False
    try:
      os.kill(pid, 0)
      return False  # its writer is alive
    except ProcessLookupError:
      return True
    except PermissionError:
      return False
  try:
    age = time.time() - tf.io.gfile.stat(full_path).mtime_nsec / 1e9
  except tf.errors.OpError:
    return False
  return age > _FOREIGN_AGE_SECS


def remove_stale(directory):
  """Removes the temporary outputs that killed runs left in `directory`.

  Returns:
    The paths removed.
  """
  if not tf.io.gfile.isdir(directory):
    return []
  removed = []
  for name in tf.io.gfile.listdir(directory):
    path = os.path.join(directory, name.rstrip("/"))
    if _is_stale(name, path):
      _remove(path)
      removed.append(path)
  if removed:
    logging.info("Removed %d temporary output(s) of an earlier, interrupted "
                 "run in %s", len(removed), directory)
  return removed
