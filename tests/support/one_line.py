"""Assertions for the project's promise: a user error is ONE line."""


def message(error):
  """The text of a raised error, asserted to be one non-empty line."""
  text = str(error)
  assert text and "\n" not in text and "\r" not in text, repr(text)
  return text


def stderr_error(stderr):
  """The `error: ...` line of a failed command, asserted to be its only one.

  The command's stderr must hold exactly one line starting with "error:",
  as its last line, and no traceback.
  """
  lines = stderr.strip().splitlines()
  errors = [line for line in lines if line.startswith("error:")]
  assert len(errors) == 1, stderr[-3000:]
  assert lines[-1] == errors[0], stderr[-3000:]
  assert "Traceback" not in stderr, stderr[-3000:]
  return errors[0]
