"""Small helpers shared by the whole package: errors, feature flags, quantization."""

import os
import re

import numpy as np

# YouTube-8M stores each frame feature as bytes; a byte q means
# q * (4 / 255) + (4 / 512 - 2). Both the readers and the writers use these.
MAX_QUANTIZED_VALUE = 2.0
MIN_QUANTIZED_VALUE = -2.0
QUANTIZE_SCALE = (MAX_QUANTIZED_VALUE - MIN_QUANTIZED_VALUE) / 255.0
QUANTIZE_BIAS = (MAX_QUANTIZED_VALUE - MIN_QUANTIZED_VALUE) / 512.0 + MIN_QUANTIZED_VALUE

# Errors raised inside TensorFlow graphs (tf.data pipelines) carry their
# one-line message between these markers so the command line can show just it.
_ERROR_START = "YT8M_ERROR<<"
_ERROR_END = ">>YT8M_ERROR"


class Yt8mError(ValueError):
  """Bad input or configuration; its message is a one-line explanation."""


class Stopped(Exception):
  """A run stopped by a signal; `exit_code` is 128 + the signal's number.

  Its message is the one line the command line logs.
  """

  def __init__(self, message, exit_code):
    super().__init__(message)
    self.exit_code = int(exit_code)


def os_reason(error):
  """The short reason of an OSError or TensorFlow OpError, e.g.
  'Read-only file system' (TensorFlow's own prefixes dropped)."""
  text = (getattr(error, "strerror", None) or getattr(error, "message", None)
          or str(error) or type(error).__name__)
  text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(text)).strip().splitlines()
  return text[0].rsplit("; ", 1)[-1] if text else type(error).__name__


def graph_error_message(*parts):
  """Wraps a (graph) string so `error_message` can find it in an OpError."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.strings.join([_ERROR_START, *parts, _ERROR_END])


def error_message(error):
  """One-line message of a Yt8mError, or of an OpError raised by our checks.

  Returns None when the error is not one of ours.
  """
  if isinstance(error, Yt8mError):
    return str(error)
  text = getattr(error, "message", None) or str(error)
  match = re.search(re.escape(_ERROR_START) + "(.*?)" + re.escape(_ERROR_END),
                    text, re.S)
  if match:
    # tf.debugging.Assert prints strings escaped; undo the common escapes.
    return match.group(1).replace("\\'", "'").replace('\\"', '"')
  return None


def parse_feature_flags(feature_names, feature_sizes):
  """Parses comma-separated feature names and sizes into two lists.

  Spaces around items are ignored, as the seed README writes
  `--feature_names="mean_rgb, mean_audio" --feature_sizes="1024, 128"`.

  Returns:
    (names: list of str, sizes: list of int), in flag order.
  """
  if isinstance(feature_names, str):
    names = [n.strip() for n in feature_names.split(",")]
  else:
    names = [str(n).strip() for n in feature_names]
  if isinstance(feature_sizes, str):
    size_items = [s.strip() for s in feature_sizes.split(",")]
  else:
    size_items = [str(s).strip() for s in feature_sizes]
  if any(not n for n in names):
    raise Yt8mError(f"--feature_names has an empty item: {feature_names!r}")
  if len(names) != len(size_items):
    raise Yt8mError(
        f"--feature_names has {len(names)} items ({', '.join(names)}) but "
        f"--feature_sizes has {len(size_items)} ({', '.join(size_items)}); "
        "give one size per feature, in the same order")
  sizes = []
  for name, item in zip(names, size_items):
    try:
      size = int(item)
    except ValueError:
      size = 0
    if size <= 0:
      raise Yt8mError(f"--feature_sizes: size {item!r} of feature '{name}' "
                      "is not a positive integer")
    sizes.append(size)
  if len(set(names)) != len(names):
    raise Yt8mError(f"--feature_names repeats a feature: {feature_names!r}")
  return names, sizes


# The seed's name for the same function, so ported code keeps working.
def GetListOfFeatureNamesAndSizes(feature_names, feature_sizes):  # pylint: disable=invalid-name
  return parse_feature_flags(feature_names, feature_sizes)


def dequantize(quantized):
  """uint8 tensor (any shape) -> float32 tensor of the same shape."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.cast(quantized, tf.float32) * QUANTIZE_SCALE + QUANTIZE_BIAS


def quantize(values):
  """float array -> uint8 array, the inverse writers use: round((x+2)*255/4)."""
  values = np.clip(np.asarray(values, np.float64), MIN_QUANTIZED_VALUE,
                   MAX_QUANTIZED_VALUE)
  return np.rint((values - MIN_QUANTIZED_VALUE) * (255.0 / 4.0)).astype(
      np.uint8)


def dequantize_np(quantized):
  """uint8 array -> float32 array, exactly as `dequantize`."""
  return (np.asarray(quantized).astype(np.float32) * np.float32(QUANTIZE_SCALE)
          + np.float32(QUANTIZE_BIAS))


def data_path(name):
  """Path of a metadata file shipped in youtube8m/data (e.g. vocabulary.csv)."""
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return os.path.join(package, "data", name)


def printable(text):
  """`text` with control characters escaped (a newline becomes "\\n").

  A label name is data: in a tab-separated line or on a terminal it must
  not start a row, move to a column or send escape sequences.
  """
  if text.isprintable():
    return text
  return "".join(c if c.isprintable() or c == " " else
                 c.encode("unicode_escape").decode("ascii") for c in text)


def load_vocabulary(path=None):
  """Reads a vocabulary CSV into {label_id: name}.

  Accepts the 2018 `vocabulary.csv` (Index,...,Name,...) and the 2017
  `label_names_2017.csv` (label_id,label_name). Empty names stay empty;
  control characters in names are escaped (`printable`).

  Raises:
    Yt8mError: naming the file and line of a bad or repeated index.
  """
  import csv  # pylint: disable=import-outside-toplevel

  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  path = path or data_path("vocabulary.csv")
  names = {}
  if not tf.io.gfile.exists(path):
    raise Yt8mError(f"vocabulary file {path} not found")
  with tf.io.gfile.GFile(path, "r") as f:
    reader = csv.DictReader(f)
    fields = reader.fieldnames or []
    if "Index" in fields and "Name" in fields:
      id_key, name_key = "Index", "Name"
    elif "label_id" in fields and "label_name" in fields:
      id_key, name_key = "label_id", "label_name"
    else:
      raise Yt8mError(f"{path}: not a vocabulary file (needs columns "
                      f"Index,Name or label_id,label_name; has {fields})")
    for row in reader:
      where = f"{path}:{reader.line_num}"
      text = (row[id_key] or "").strip()
      try:
        index = int(text)
      except ValueError:
        index = None
      if index is None or index < 0:
        raise Yt8mError(f"{where}: {id_key} {text!r} is not an integer"
                        f"{'' if index is None else ' >= 0'}")
      if index in names:
        raise Yt8mError(f"{where}: {id_key} {index} appears twice")
      names[index] = printable(row[name_key] or "")
  return names
