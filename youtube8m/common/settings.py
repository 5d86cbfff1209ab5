"""Settings defined once: config dataclass fields that are also absl flags.

A workflow library describes its settings as a dataclass whose fields carry
their help text (`setting(default, help)`); the front-end script turns the
fields into absl flags (`define_flags`) and the parsed flags back into the
dataclass (`from_flags`). So a setting's name, default, type and --help text
are written in one place, and the library can be called without absl.

Fields made with plain `dataclasses.field` (no help) are not flags: they
carry values the front end computes (model flags, Vertex AI directories).

This module and the config modules that use it import no TensorFlow, so a
command answers --help and reports a bad setting before TensorFlow loads.
"""

import dataclasses
import typing

from absl import flags

from youtube8m.common import checks

_HELP = "help"
_CHECK = "check"
_REQUIRED = "required"
# Flags defined through this module belong to the module that asked for them
# (the script), so the script's --help lists them.
flags.disclaim_key_flags()


def setting(default, help, check=None, required=False, **kwargs):  # pylint: disable=redefined-builtin
  """A dataclass field that is also a command-line flag with this help.

  Args:
    default: the flag's default (its type gives the flag's type).
    help: the --help text.
    check: optional `check(flag, value)` from youtube8m.common.checks, run by
      `validate` before a workflow writes anything.
    required: the setting must be given (not None or ""): `validate` says
      "--name is required" before any other check runs.
  """
  if required:
    help = f"{help} (required)"
  return dataclasses.field(
      default=default, metadata={_HELP: help, _CHECK: check,
                                 _REQUIRED: bool(required)}, **kwargs)


def validate(config):
  """Raises Yt8mError naming the first setting of `config` with a bad value.

  Missing required settings are reported first, then the checks run in
  definition order.
  """
  fields = flag_fields(type(config))
  for field in fields:
    if field.metadata.get(_REQUIRED):
      checks.required(field.name, getattr(config, field.name))
  for field in fields:
    check = field.metadata.get(_CHECK)
    if check is not None:
      check(field.name, getattr(config, field.name))
  return config


def required_names(config_class):
  """Names of the settings of `config_class` that must be given."""
  return [f.name for f in flag_fields(config_class)
          if f.metadata.get(_REQUIRED)]


def flag_fields(config_class):
  """The fields of `config_class` that are flags, in definition order."""
  return [f for f in dataclasses.fields(config_class) if _HELP in f.metadata]


def _flag_type(field):
  """bool, int, float or str: the field's annotation without Optional."""
  kind = field.type
  if isinstance(kind, str):  # `from __future__ import annotations` style
    kind = {"bool": bool, "int": int, "float": float, "str": str}.get(
        kind.replace("typing.Optional[", "").rstrip("]"), str)
  args = [a for a in typing.get_args(kind) if a is not type(None)]
  if args:  # Optional[X]
    kind = args[0]
  if kind not in (bool, int, float, str):
    raise TypeError(f"setting {field.name}: unsupported type {kind!r}")
  return kind


_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
           float: flags.DEFINE_float, str: flags.DEFINE_string}


def define_flags(config_class, skip=(), flag_values=flags.FLAGS):
  """Defines one absl flag per setting of `config_class` (the caller's)."""
  for field in flag_fields(config_class):
    if field.name in skip:
      continue
    _DEFINE[_flag_type(field)](field.name, field.default,
                               field.metadata[_HELP], flag_values=flag_values)


def from_flags(config_class, flag_values=flags.FLAGS, **values):
  """A `config_class` from the parsed flags; `values` fill the other fields."""
  for field in flag_fields(config_class):
    if field.name not in values and field.name in flag_values:
      values[field.name] = flag_values[field.name].value
  return config_class(**values)


def given(name, flag_values=flags.FLAGS):
  """Whether the user typed --name (not just left its default)."""
  return flag_values[name].present > 0


def define_table(table, flag_values=flags.FLAGS):
  """One flag per entry of `table` ({name: entry with .default and .help}).

  The model flags (`model_config.all_flags()`) are such a table.
  """
  for name, entry in table.items():
    kind = type(entry.default)
    _DEFINE[kind if kind in _DEFINE else str](
        name, entry.default, entry.help, flag_values=flag_values)


def table_given(table, flag_values=flags.FLAGS):
  """({flag: value} of every flag in `table`, set of the flags typed)."""
  values, explicit = {}, set()
  for name in table:
    values[name] = flag_values[name].value
    if given(name, flag_values):
      explicit.add(name)
  return values, explicit
