"""Paths that TensorFlow would read as glob patterns, made literal.

TensorFlow's checkpoint reader looks for `PREFIX.index` with a glob before
it opens the files (and so does tf.saved_model.load, for its variables), so
a directory named like `exp[lr=0.01]` or `run[1]*?` has no checkpoint as
far as it can tell, or, worse, another directory's. `readable(path)` gives
such a path a glob-free alias to hand to TensorFlow:
  - local files: symbolic links in a private temporary directory (no copy);
  - gs:// and other remote files: a local copy (the alias must be a real
    path, and object stores have no links).
Paths without glob characters are used as they are.
"""

import contextlib
import os
import shutil
import tempfile

import tensorflow as tf

from youtube8m.common import outputs

# The characters TensorFlow's GetMatchingPaths treats as a pattern.
GLOB_CHARS = frozenset("*?[\\")


def has_glob_chars(path):
  """Whether TensorFlow would read `path` as a pattern."""
  return any(c in GLOB_CHARS for c in str(path))


def _link_or_copy(source, target):
  if outputs.is_remote(source):
    if tf.io.gfile.isdir(source):
      os.makedirs(target)
      for name in tf.io.gfile.listdir(source):
        _link_or_copy(os.path.join(source, name.rstrip("/")),
                      os.path.join(target, name.rstrip("/")))
    else:
      tf.io.gfile.copy(source, target)
  else:
    os.symlink(os.path.abspath(source), target)


@contextlib.contextmanager
def readable(path, prefix=True):
  """Yields a path naming the same checkpoint or directory, glob-free.

  Args:
    path: a checkpoint prefix (prefix=True: the files PATH.*, e.g.
      ckpt-5.index and ckpt-5.data-00000-of-00001) or a directory (a
      SavedModel; prefix=False).
  """
  if not has_glob_chars(path):
    yield path
    return
  alias_dir = tempfile.mkdtemp(prefix="yt8m-literal-")
  try:
    if prefix:
      directory, base = os.path.split(path)
      alias = os.path.join(alias_dir, "checkpoint")
      try:
        names = tf.io.gfile.listdir(directory or ".")
      except tf.errors.NotFoundError:
        names = []
      for name in names:
        name = name.rstrip("/")
        if name.startswith(base + "."):
          _link_or_copy(os.path.join(directory, name),
                        alias + name[len(base):])
    else:
      alias = os.path.join(alias_dir, "model")
      if tf.io.gfile.exists(path):
        _link_or_copy(path.rstrip("/"), alias)
    yield alias
  finally:
    shutil.rmtree(alias_dir, ignore_errors=True)
