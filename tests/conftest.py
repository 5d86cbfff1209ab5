"""Shared pytest setup: quiet TensorFlow logs, repository paths."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

# Long garbage-collection pauses, reported at the end of the run: a test
# that is slow only in the full suite is often paying for the garbage of
# the tests before it (TensorFlow graphs hold many Python objects).
import gc  # noqa: E402
import time  # noqa: E402

# Session-scoped `gcs` fixture: a local GCS emulator for gs:// tests.
from support.gcs_emulator import \
    gcs  # noqa: E402,F401  pylint: disable=unused-import

GC_PAUSES = []
_gc_start = [0.0]


def _time_gc(phase, info):
  if phase == "start":
    _gc_start[0] = time.perf_counter()
  elif time.perf_counter() - _gc_start[0] > 0.5:
    GC_PAUSES.append((time.perf_counter() - _gc_start[0], info["generation"],
                      os.environ.get("PYTEST_CURRENT_TEST", "?")))


gc.callbacks.append(_time_gc)


def pytest_terminal_summary(terminalreporter):
  for seconds, generation, test in sorted(GC_PAUSES, reverse=True)[:10]:
    terminalreporter.write_line(
        f"gc pause {seconds:.1f}s (generation {generation}) in {test}")
