"""Runs a command as `python SCRIPT ARGS` or `python -m MODULE ARGS` would,
and records what tests/test_commands.py checks.

  python tests/support/command_probe.py train.py --help
  python tests/support/command_probe.py -m youtube8m.score --help

* Whether TensorFlow was imported by the end (the file named by
  $YT8M_PROBE_FILE gets "tensorflow imported: True/False").
* Just before the command's main runs (cli.run), a C++-style start-up line,
  PLANTED_LINE, is written to file descriptor 2, as TensorFlow's C++ writes
  its lines: a quiet command must drop it, whatever this TensorFlow build
  prints by itself.
"""

import atexit
import os
import runpy
import sys

from youtube8m.common import cli

PLANTED_LINE = ("I0000 00:00:1.0 1 cpu_feature_guard.cc:210] This TensorFlow "
                "binary is optimized to use available CPU instructions "
                "(planted by command_probe.py)")


def _record():
  path = os.environ.get("YT8M_PROBE_FILE")
  if path:
    with open(path, "w", encoding="utf-8") as f:
      f.write(f"tensorflow imported: {'tensorflow' in sys.modules}\n")


def _planting(run):
  def planted_run(main, argv=None):
    os.write(2, (PLANTED_LINE + "\n").encode())
    return run(main, argv)
  return planted_run


def main():
  atexit.register(_record)
  cli.run = _planting(cli.run)
  if sys.argv[1] == "-m":
    module = sys.argv[2]
    del sys.argv[1:3]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
  else:
    script = sys.argv[1]
    del sys.argv[0]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
  main()
