"""Command-line plumbing shared by the scripts: one-line errors, exit codes."""

import errno
import os
import signal
import sys

from absl import app
from absl import flags
from absl import logging

from youtube8m.common import utils

# Functions error -> one line or None, added by the modules that know an
# error's cause (a damaged shard, a lost multi-worker peer), so that this
# low-level module needs not import them.
_DIAGNOSES = []


def add_diagnosis(diagnose):
  """Registers `diagnose(error) -> str or None`, tried before the defaults."""
  if diagnose not in _DIAGNOSES:
    _DIAGNOSES.append(diagnose)
  return diagnose


def _one_line(error):
  """The one-line message for an error a user can fix, or None."""
  message = utils.error_message(error)
  if message is not None:
    return message
  text = str(getattr(error, "message", None) or error)
  if ((isinstance(error, OSError) and error.errno == errno.ENOSPC) or
      "No space left on device" in text or "Disk quota exceeded" in text):
    where = getattr(error, "filename", None)
    return ("no space left on the device" + (f" writing {where}" if where
                                              else "") +
            f" ({text.splitlines()[0][:300]}); free some space and run "
            "again (a training run resumes from its last checkpoint)")
  if isinstance(error, OSError) and error.errno == errno.EROFS:
    return (f"read-only file system: cannot write {error.filename or text}; "
            "give an output path you can write")
  if isinstance(error, (IsADirectoryError, NotADirectoryError)):
    return f"not a file or directory as expected: {text.splitlines()[0]}"
  # Imported here, not above: the Vertex AI submission helper (cloud.py)
  # runs through this module on machines without TensorFlow.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  for diagnose in _DIAGNOSES:
    message = diagnose(error)
    if message:
      return message
  if isinstance(error, tf.errors.DataLossError):
    return f"damaged input: {error.message.splitlines()[0]}"
  if isinstance(error, (FileNotFoundError, tf.errors.NotFoundError)):
    return f"not found: {getattr(error, 'message', error)}".splitlines()[0]
  if isinstance(error, (PermissionError, tf.errors.PermissionDeniedError)):
    return f"permission denied: {getattr(error, 'message', error)}".splitlines(
    )[0]
  return None


def one_line(error):
  """The one-line message of an error a user can fix, or None.

  What a command prints after `error: `; the Python API (youtube8m.api)
  raises it as a Yt8mError.
  """
  return _one_line(error)


def _terminate(signum, unused_frame):
  raise utils.Stopped(f"stopped by {signal.Signals(signum).name}",
                      128 + signum)


def _catch_termination():
  """SIGTERM and SIGHUP raise utils.Stopped, so `finally` clauses run
  (temporary outputs removed, locks released) before the exit; training
  handles them itself (training/preemption.py)."""
  for name in ("SIGTERM", "SIGHUP"):
    # An ignored signal stays ignored (`nohup python train.py ...`).
    if hasattr(signal, name) and signal.getsignal(
        getattr(signal, name)) is not signal.SIG_IGN:
      signal.signal(getattr(signal, name), _terminate)


def run(main, argv=None):
  """app.run(main), turning user errors into `error: ...` and exit status 1.

  A run stopped by a signal logs one line and exits with 128 + the
  signal's number (SIGINT/Ctrl-C: 130, SIGTERM: 143, SIGHUP: 129), without
  a traceback.

  argv: the command line (default sys.argv), e.g. for tests.
  """

  def guarded(argv):
    _catch_termination()
    try:
      result = main(argv)
      sys.stdout.flush()  # a closed pipe shows here, not at the exit
      return result
    except BrokenPipeError:
      # The reader of stdout is gone (`... | head`): stop quietly, as
      # SIGPIPE would, with no output left to flush at the exit.
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      sys.exit(128 + signal.SIGPIPE)
    except utils.Stopped as e:
      logging.flush()
      print(str(e), file=sys.stderr)
      sys.exit(e.exit_code)
    except KeyboardInterrupt:
      logging.flush()
      print("stopped by SIGINT (Ctrl-C)", file=sys.stderr)
      sys.exit(128 + signal.SIGINT)
    except Exception as e:  # pylint: disable=broad-except
      message = _one_line(e)
      if message is None:
        raise
      logging.flush()
      print(f"error: {message}", file=sys.stderr)
      sys.exit(1)

  try:
    app.run(guarded, argv=argv, flags_parser=parse_flags)
  except SystemExit as e:
    # absl exits 1 after printing --help; asking for help is no failure.
    if e.code == 1 and HELP_ARGS & set((argv or sys.argv)[1:]):
      sys.exit(0)
    raise


def parse_flags(argv):
  """absl's flag parsing, with a bad flag reported as one `error:` line.

  absl's own message (an unknown flag with the nearest names, a value of
  the wrong type) is kept; its traceback-like FATAL banner is not.
  """
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = " ".join(str(e).split())
    print(f"error: {message} (--help lists the flags)", file=sys.stderr)
    sys.exit(1)


HELP_ARGS = {"--help", "-help", "-h", "-?", "--helpshort", "--helpfull",
              "--helpxml"}


class UsageError(utils.Yt8mError):
  """A missing or bad command-line flag."""


def check_no_positional_args(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments {argv[1:]} (flags are "
                     "--name=value)")
