"""A quiet console: TensorFlow's C++ start-up lines are filtered out.

Importing TensorFlow prints a dozen lines that say nothing about the run
(the oneDNN banner and "All log messages before absl::InitializeLog()",
each twice, CPU-feature and XLA-service lines). TF_CPP_MIN_LOG_LEVEL does
not reach all of them in TF 2.18+, because some are written before the
level is read. So the front ends call `quiet()` before TensorFlow is
imported: it sets TF_CPP_MIN_LOG_LEVEL=2 (C++ INFO and WARNING off) and
passes the process's stderr (file descriptor 2) through a filter that
drops only those known start-up lines; everything else, Python's logging
and errors included, goes through unchanged and in order.

A crash cannot lose its last lines: the filter is a forked process of its
own, not a thread. When the command dies in any way (abort, a CHECK
failure, a segmentation fault, os._exit, SIGKILL), the kernel closes its
end of the pipe, and the filter writes out everything that was written
before (a last line without a newline too), then exits. It ignores SIGINT
and SIGTERM, which are the command's to handle; it ends when every writer
of the pipe is gone (subprocesses that inherited stderr included).

TensorFlow's Python side logs at INFO what only its developers need (an
export's temporary "Assets written to" directory, "Sharding callback
duration", input renaming, once per signature): below WARNING, records
from TensorFlow's and Keras' own files are dropped (they log through both
the "tensorflow" and absl's logger), so a command's INFO lines are its own.

The user wins: with --verbosity=1 or more on the command line nothing is
filtered or lowered; with TF_CPP_MIN_LOG_LEVEL already set, the C++ lines
are left to it.
"""

import atexit
import logging
import os
import re
import signal
import sys
import threading
import time

from absl import logging as absl_logging

# Start-up lines of TensorFlow/XLA/absl C++ (matched anywhere in the line).
NOISE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called",
    r"oneDNN custom operations are on",
    r"cpu_feature_guard\.cc",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions:",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation_placer\.cc",
    r"TF-TRT Warning",
    r"Could not find cuda drivers",
    r"cuda_(executor|driver|diagnostics)\.cc",
    r"xla/service/service\.cc",
    r"device_compiler\.h.*Compiled cluster using XLA",
    r"Attempting to register factory for plugin",
    r"oneDNN supports DT_INT32 only on platforms with AVX-512",
]))

_installed = []

# Where TensorFlow's and Keras' own Python files are (a log record's path).
_LIBRARY_FILE = re.compile(r"[/\\](tensorflow|keras|tf_keras)[/\\]")


def _own_info_only(record):
  """Logging filter: a record below WARNING from TensorFlow or Keras is
  dropped; the rest pass."""
  return (record.levelno >= logging.WARNING or
          not _LIBRARY_FILE.search(record.pathname or ""))


def quiet_library_logs():
  """Keeps TensorFlow's and Keras' INFO lines out of the command's log."""
  logging.getLogger("tensorflow").setLevel(logging.WARNING)
  absl_logger = absl_logging.get_absl_logger()
  if _own_info_only not in absl_logger.filters:
    absl_logger.addFilter(_own_info_only)


def _verbose_requested(argv):
  for i, arg in enumerate(argv):
    value = None
    if arg.startswith(("--verbosity=", "-v=")):
      value = arg.split("=", 1)[1]
    elif arg in ("--verbosity", "-v") and i + 1 < len(argv):
      value = argv[i + 1]
    if value is not None:
      try:
        return int(value) >= 1
      except ValueError:
        return value.lower() in ("debug", "info")
  return False


def _kept(lines):
  return [line for line in lines
          if not NOISE.search(line.decode("utf-8", "replace"))]


def _pump(read_fd, write_fd):
  """Copies lines from read_fd to write_fd, dropping NOISE lines, until
  every writer of read_fd has closed it."""
  pending = b""
  while True:
    chunk = os.read(read_fd, 65536)
    if not chunk:
      break
    pending += chunk
    *lines, pending = pending.split(b"\n")
    kept = _kept(lines)
    if kept:
      _write_all(write_fd, b"\n".join(kept) + b"\n")
  if pending and _kept([pending]):
    _write_all(write_fd, pending)


def _write_all(fd, data):
  while data:
    data = data[os.write(fd, data):]


def _filter_process(read_fd, original):
  """The forked filter: pumps until EOF, then leaves without cleanup."""
  status = 0
  try:
    for number in (signal.SIGINT, signal.SIGTERM):
      signal.signal(number, signal.SIG_IGN)
    _pump(read_fd, original)
  except BaseException:  # pylint: disable=broad-except
    status = 1  # e.g. the real stderr was closed: nothing left to tell
  os._exit(status)  # pylint: disable=protected-access


def quiet(argv=None):
  """Filters TensorFlow's start-up lines from stderr (once per process).

  Returns:
    True when the filter is on.
  """
  argv = sys.argv if argv is None else argv
  if _installed:
    return True
  if _verbose_requested(argv):
    return False
  quiet_library_logs()
  if ("TF_CPP_MIN_LOG_LEVEL" in os.environ
      or "pytest" in sys.modules  # pytest captures stderr itself
      or not hasattr(os, "fork")
      or threading.active_count() > 1):  # forking threads is unsafe
    return False
  try:
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
  except OSError:
    return False  # no real stderr (embedded interpreter): leave it be
  pid = os.fork()
  if pid == 0:
    os.close(write_fd)
    _filter_process(read_fd, original)
  os.close(read_fd)
  os.dup2(write_fd, 2)
  os.close(write_fd)
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

  def restore():
    # Flush what Python buffered, then give fd 2 back: the pipe's last
    # writer closes, the filter writes the rest and exits; wait for it a
    # little, so that its lines come before the shell's prompt.
    try:
      sys.stderr.flush()
    except (OSError, ValueError):
      pass
    os.dup2(original, 2)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
      try:
        if os.waitpid(pid, os.WNOHANG)[0]:
          break
      except ChildProcessError:
        break
      time.sleep(0.005)

  atexit.register(restore)
  _installed.append(pid)
  return True
