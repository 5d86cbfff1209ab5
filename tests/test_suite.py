"""The test suite itself: a hanging test fails instead of stalling CI."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_suite_has_a_per_test_timeout():
  with open(os.path.join(REPO, "pytest.ini")) as f:
    lines = [line.split("=") for line in f if line.startswith("timeout")]
  assert lines and 0 < int(lines[0][1]) <= 1800


def test_a_hanging_test_fails(tmp_path):
  (tmp_path / "test_hang.py").write_text(
      "import time\n\ndef test_hangs():\n  time.sleep(600)\n")
  result = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
       "-o", "timeout=2", str(tmp_path / "test_hang.py")],
      capture_output=True, text=True, cwd=tmp_path, timeout=120)
  assert result.returncode == 1, result.stdout[-2000:]
  assert "Timeout" in result.stdout and "1 failed" in result.stdout


def test_no_two_test_files_share_a_name():
  # Test folders have no __init__.py, so pytest imports test files by their
  # base name: two with one name stop the whole run at collection.
  names = {}
  for folder, _, files in os.walk(os.path.join(REPO, "tests")):
    for name in files:
      if name.startswith("test_") and name.endswith(".py"):
        names.setdefault(name, []).append(folder)
  assert not {n: f for n, f in names.items() if len(f) > 1}
