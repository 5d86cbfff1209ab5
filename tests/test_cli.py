"""cli.py: user errors become one line on stderr and exit status 1."""

import subprocess
import sys
import textwrap

from support import workflow_helpers as wh


def _run(body):
  program = textwrap.dedent("""
      import sys
      from youtube8m import cli, utils
      import tensorflow as tf
      def main(argv):
      """) + textwrap.indent(textwrap.dedent(body), "  ") + (
          "\ncli.run(main)\n")
  return subprocess.run([sys.executable, "-c", program] + ["--"],
                        env=wh.script_env(), capture_output=True, text=True,
                        timeout=120, cwd=wh.REPO)


def test_user_errors_are_one_line():
  cases = {
      "raise utils.Yt8mError('--top_k=0: expected 1..3862')":
          "error: --top_k=0: expected 1..3862",
      "raise tf.errors.NotFoundError(None, None, 'gs://b/x: no such file')":
          "error: not found: gs://b/x: no such file",
      "open('/nonexistent/dir/file')": "error: not found: ",
      "raise cli.UsageError('--train_data_pattern is required')":
          "error: --train_data_pattern is required",
  }
  for body, expected in cases.items():
    result = _run(body)
    assert result.returncode == 1, (body, result.stderr[-1500:])
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(expected), (body, lines[-3:])
    assert "Traceback" not in result.stderr, body


def test_a_bug_keeps_its_traceback():
  result = _run("raise KeyError('internal')")
  assert result.returncode != 0
  assert "Traceback" in result.stderr and "KeyError" in result.stderr


def test_positional_arguments_are_refused():
  result = subprocess.run(
      [sys.executable, "-c", "from youtube8m import cli\n"
       "cli.run(lambda argv: cli.check_no_positional_args(argv))", "stray"],
      env=wh.script_env(), capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert "unexpected arguments ['stray']" in result.stderr
