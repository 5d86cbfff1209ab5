"""Value checks of settings and model flags: `check(flag, value)` raises.

Each check raises a Yt8mError naming `--flag` and what was expected, so a
bad command line fails in one line before anything is written. `None` is
accepted by the `optional` wrapper for settings whose default is None.
"""

import difflib
import math
import numbers

from youtube8m.common import utils


def bad_flag(flag, value, expected):
  """The Yt8mError for `--flag=value`, saying what was `expected`."""
  return utils.Yt8mError(f"--{flag}={value!r} is invalid: {expected}")


def positive_int(flag, value):
  """Check: an integer >= 1 (bools are not integers here)."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or value < 1):
    raise bad_flag(flag, value, "expected a positive integer")


def boolean(flag, value):
  """Check: true or false."""
  if not isinstance(value, bool):
    raise bad_flag(flag, value, "expected true or false")


def non_negative(flag, value):
  """Check: a finite number >= 0."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0 <= value < float("inf")):
    raise bad_flag(flag, value, "expected a number >= 0")


def positive(flag, value):
  """Check: a finite number > 0."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0 < value < float("inf")):
    raise bad_flag(flag, value, "expected a number > 0")


def fraction(flag, value):
  """Check: a number in [0, 1)."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0 <= value < 1):
    raise bad_flag(flag, value, "expected a number in [0, 1)")


def closest(value, names):
  """The suffix \" (did you mean 'X'?)\" for the names nearest `value`, or ''.

  Nearest: the names that contain the value, shortest first (`adam` ->
  AdamOptimizer, `NextVLADModel` -> NeXtVLADModel), else difflib's close
  matches; case is ignored.
  """
  by_case = {str(name).lower(): name for name in names}
  typed = str(value).strip().lower()
  # A case slip first, then the shortest names holding the value.
  matches = sorted((n for n in by_case if len(typed) >= 3 and typed in n),
                   key=len)[:2]
  if not matches:
    matches = difflib.get_close_matches(typed, list(by_case), n=2,
                                        cutoff=0.6)
  if not matches:
    return ""
  return " (did you mean " + " or ".join(
      f"'{by_case[m]}'" for m in matches) + "?)"


def choice(choices):
  """Check factory: the value is one of `choices` (else the nearest ones
  are suggested)."""
  def check(flag, value):
    if value not in choices:
      raise bad_flag(flag, value, f"use one of {', '.join(map(str, choices))}"
                     + closest(value, choices))
  return check


def required(flag, value):
  """Check: a value was given (not None or an empty string)."""
  if value is None or (isinstance(value, str) and not value.strip()):
    raise utils.Yt8mError(f"--{flag} is required")


def optional(check):
  """Check factory: None, or a value that passes `check`."""
  def checked(flag, value):
    if value is not None:
      check(flag, value)
  return checked


def finite(flag, value):
  """Check: a finite number."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not math.isfinite(value)):
    raise bad_flag(flag, value, "expected a finite number")


def int_in_range(low, high):
  """Check factory: an integer in low..high (bools are not integers here)."""
  def check(flag, value):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
        or not low <= value <= high):
      raise bad_flag(flag, value, f"expected an integer in {low}..{high}")
  return check


def non_negative_int(flag, value):
  """Check: an integer >= 0."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or value < 0):
    raise bad_flag(flag, value, "expected an integer >= 0")


def unit_interval(flag, value):
  """Check: a number in (0, 1]."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0 < value <= 1):
    raise bad_flag(flag, value, "expected a number in (0, 1]")


def probability(flag, value):
  """Check: a number in [0, 1]."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real)
      or not 0 <= value <= 1):
    raise bad_flag(flag, value, "expected a number in [0, 1]")
