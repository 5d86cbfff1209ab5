"""Command-line plumbing shared by the scripts: one-line errors, exit codes."""

import sys

from absl import app
from absl import logging

from youtube8m import utils


def _one_line(error):
  """The one-line message for an error a user can fix, or None."""
  message = utils.error_message(error)
  if message is not None:
    return message
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if isinstance(error, tf.errors.DataLossError):
    from youtube8m import readers  # pylint: disable=import-outside-toplevel
    return readers.diagnose_data_loss(error) or (
        f"damaged input: {error.message.splitlines()[0]}")
  if isinstance(error, (FileNotFoundError, tf.errors.NotFoundError)):
    return f"not found: {getattr(error, 'message', error)}".splitlines()[0]
  if isinstance(error, (PermissionError, tf.errors.PermissionDeniedError)):
    return f"permission denied: {getattr(error, 'message', error)}".splitlines(
    )[0]
  return None


def run(main):
  """app.run(main), turning user errors into `error: ...` and exit status 1."""

  def guarded(argv):
    try:
      return main(argv)
    except Exception as e:  # pylint: disable=broad-except
      message = _one_line(e)
      if message is None:
        raise
      logging.flush()
      print(f"error: {message}", file=sys.stderr)
      sys.exit(1)

  app.run(guarded)
