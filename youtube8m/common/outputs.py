"""Outputs that appear whole or not at all, local or on gs://.

Every file or directory the package writes (model_flags.json, CSVs, model
archives, SavedModel exports) is written under a temporary name next to its
final path, then renamed into place. The temporary name is recognisable,

  <final name>.yt8m-tmp-<host>-<pid>

so a later run can remove what a killed one left behind (`remove_stale`);
every write first removes the stale temporaries of its own final name, so
eval, inference, extraction and reports clean up after killed runs as
training does. On gs:// a rename copies objects one by one, but a crash then
leaves only the temporary name, never half of the final one.

Deletes never follow symbolic links (`remove`): a link is removed itself,
never what it points to.
"""

import os
import re
import shutil
import socket
import stat
import time

from absl import logging
import tensorflow as tf

from youtube8m.common import utils

_TAG = ".yt8m-tmp-"
_STALE = re.compile(re.escape(_TAG) + r"(?P<host>.+)-(?P<pid>\d+)/?$")
# A temporary output of another host is left alone until it is this old:
# its writer may still be running.
_FOREIGN_AGE_SECS = 24 * 3600


def temp_path(path):
  """The temporary name under which `path` is written."""
  return f"{path.rstrip('/')}{_TAG}{socket.gethostname()}-{os.getpid()}"


def is_remote(path):
  """Whether `path` names a file system TensorFlow reaches by URL (gs://)."""
  return "://" in str(path)


def remove(path):
  """Deletes a file or directory tree; a symbolic link is removed itself.

  tf.io.gfile.rmtree follows a link to a directory and empties its target;
  locally this looks at the path itself (lstat) and deletes trees with
  shutil.rmtree, which removes links inside the tree without following
  them. Object stores (gs://) have no links. A missing path is no error.
  """
  if is_remote(path):
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)
    return
  try:
    mode = os.lstat(path).st_mode
  except FileNotFoundError:
    return
  if stat.S_ISDIR(mode):
    shutil.rmtree(path)
  else:
    os.unlink(path)


_remove = remove


def write_file(path, write_fn, mode="w"):
  """Calls write_fn(file) on a temporary file, then renames it to `path`.

  Returns:
    What write_fn returned. On an error nothing appears at `path` (an older
    file there stays) and the temporary file is removed.
  """
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  remove_stale_of(path)
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
  remove_stale_of(path)
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
  remove_stale_of(path)
  tmp = temp_path(path)
  _remove(tmp)
  try:
    result = write_fn(tmp)
    _remove(path)  # a link there is replaced, its target left alone
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


def remove_stale(directory, final_name=None):
  """Removes the temporary outputs that killed runs left in `directory`.

  Args:
    directory: where to look (local or gs://); names are compared
      literally, never as glob patterns.
    final_name: only the temporaries of this output (a file name in
      `directory`); None: of every output.

  Returns:
    The paths removed.
  """
  if not tf.io.gfile.isdir(directory):
    return []
  removed = []
  prefix = None if final_name is None else final_name.rstrip("/") + _TAG
  for name in tf.io.gfile.listdir(directory):
    name = name.rstrip("/")
    if prefix is not None and not name.startswith(prefix):
      continue
    path = os.path.join(directory, name)
    if _is_stale(name, path):
      _remove(path)
      removed.append(path)
  if removed:
    logging.info("Removed %d temporary output(s) of an earlier, interrupted "
                 "run in %s", len(removed), directory)
  return removed


def remove_stale_of(path):
  """Removes the stale temporaries that killed runs left of output `path`."""
  directory, name = os.path.split(path.rstrip("/"))
  return remove_stale(directory or ".", name)


def same_file(a, b):
  """Whether two output paths name one file (links and `..` resolved)."""
  if is_remote(a) or is_remote(b):
    return a.rstrip("/") == b.rstrip("/")
  return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(paths, inputs=()):
  """Refuses two outputs of one run naming the same file, or an input.

  Args:
    paths: {flag: path} of the run's outputs; empty paths are skipped.
    inputs: (description, [paths]) pairs of files the run reads.

  Raises:
    Yt8mError: naming both flags (or the output and the input).
  """
  given = [(flag, path) for flag, path in paths.items() if path]
  for i, (flag, path) in enumerate(given):
    for other_flag, other in given[:i]:
      if same_file(path, other):
        raise utils.Yt8mError(
            f"{other_flag}={other} and {flag}={path} name the same file: "
            "give each output its own path")
    for description, files in inputs:
      for source in files:
        if same_file(path, source):
          raise utils.Yt8mError(
              f"{flag}={path} is also an input ({description}); writing it "
              "would destroy that input: give another path")
