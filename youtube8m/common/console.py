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

The user wins: with TF_CPP_MIN_LOG_LEVEL already set, or --verbosity=1 or
more on the command line, nothing is filtered.
"""

import atexit
import os
import re
import sys
import threading

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


def _pump(read_fd, write_fd):
  """Copies lines from read_fd to write_fd, dropping NOISE lines."""
  with os.fdopen(read_fd, "rb", buffering=0) as source:
    pending = b""
    while True:
      chunk = source.read(65536)
      if not chunk:
        break
      pending += chunk
      *lines, pending = pending.split(b"\n")
      kept = [line for line in lines
              if not NOISE.search(line.decode("utf-8", "replace"))]
      if kept:
        os.write(write_fd, b"\n".join(kept) + b"\n")
    if pending and not NOISE.search(pending.decode("utf-8", "replace")):
      os.write(write_fd, pending)


def quiet(argv=None):
  """Filters TensorFlow's start-up lines from stderr (once per process).

  Returns:
    True when the filter is on.
  """
  argv = sys.argv if argv is None else argv
  if _installed:
    return True
  if ("TF_CPP_MIN_LOG_LEVEL" in os.environ or _verbose_requested(argv)
      or "pytest" in sys.modules):  # pytest captures stderr itself
    return False
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
  try:
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
  except OSError:
    return False  # no real stderr (embedded interpreter): leave it be
  pump = threading.Thread(target=_pump, args=(read_fd, original),
                          daemon=True, name="stderr-filter")
  pump.start()

  def restore():
    # Flush what Python buffered, then give fd 2 back: the pipe's last
    # writer closes, the pump sees EOF and writes the rest.
    try:
      sys.stderr.flush()
    except (OSError, ValueError):
      pass
    os.dup2(original, 2)
    pump.join(timeout=5)

  atexit.register(restore)
  _installed.append(pump)
  return True
