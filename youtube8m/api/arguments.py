"""The API's arguments: model flags as keywords, and errors naming them.

The libraries under the API speak in command-line flags (`--top_k=0 is
invalid`); a notebook user typed keyword arguments. `renamed` rewrites a
library error's flag names into the argument names of the call.
"""

import contextlib
import difflib
import numbers
import re

from youtube8m.common import cli
from youtube8m.common import utils
from youtube8m.models import model_config


def model_flags(given, where):
  """(every model_flags.json entry, the names given) for keyword flags.

  Args:
    given: {flag: value} the caller typed, e.g. {"model": "MoeModel"}.
    where: how errors name the call, e.g. "api.train".

  Raises:
    Yt8mError: a name that is no model flag, with the closest ones.
  """
  known = model_config.all_flags()
  for name in sorted(given):
    if name not in known:
      close = difflib.get_close_matches(name, list(known), n=3)
      hint = (f"; did you mean {' or '.join(close)}?" if close else
              "; see docs/models.md for the model flags")
      raise utils.Yt8mError(f"{where}({name}=...): {name!r} is not a model "
                            f"flag{hint}")
  return {**model_config.all_defaults(), **given}, frozenset(given)


def check_positive_int(name, value):
  """Raises a Yt8mError naming argument `name` unless value is an int >= 1."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or
      value < 1):
    raise utils.Yt8mError(f"{name}={value!r}: expected a positive integer")


def renamed(error, names):
  """A Yt8mError like `error`, its `--flag` names replaced by arguments.

  Args:
    error: a Yt8mError of a library.
    names: {flag name (no dashes): argument name}.
  """
  text = str(error)
  for flag, argument in names.items():
    text = re.sub(rf"--{re.escape(flag)}\b", argument, text)
  return utils.Yt8mError(text)


@contextlib.contextmanager
def errors_named(names):
  """Library errors become one-line Yt8mErrors naming the arguments.

  A Yt8mError, or an error a command would print as one line (a check
  failing inside a tf.data pipeline, a damaged record), is raised as a
  Yt8mError whose `--flag` names are replaced by `names` (flag: argument)
  and by the model flags' own names.
  """
  names = {**{f: f for f in model_config.all_flags()}, **names}
  try:
    yield
  except utils.Yt8mError as e:
    raise renamed(e, names) from None
  except Exception as e:  # pylint: disable=broad-except
    message = cli.one_line(e)
    if message is None:
      raise
    raise renamed(utils.Yt8mError(message), names) from None
