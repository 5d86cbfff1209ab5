"""Shared pytest setup: quiet TensorFlow logs, repository paths."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

# Session-scoped `gcs` fixture: a local GCS emulator for gs:// tests.
from support.gcs_emulator import gcs  # noqa: E402,F401  pylint: disable=unused-import
