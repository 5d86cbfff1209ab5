"""Where the feature extraction's model files are, and fetching missing ones.

`--model_dir` (local or gs://) holds what two published tarballs unpack to:
  classify_image_graph_def.pb         inception-2015-12-05.tgz (85 MB)
  mean.npy, eigenvals.npy, eigenvecs.npy   yt8m_pca.tgz (25 MB)
and, for audio, optionally
  vggish/                  a VGGish SavedModel (TF Hub vggish signature)
  vggish_pca_params.npz    AudioSet's PCA (fetched when missing and a
                           VGGish model is used)
`locate` makes sure the files are there, downloading a missing one when
allowed, and returns their paths; a file that is missing and cannot be
fetched is a one-line ModelError naming it and its URL. Downloads go through
`keras.utils.get_file` (progress bar on stderr; an optional SHA-256 check)
into a temporary folder; only the files named above are taken from an
archive, and they are written through `outputs.write_file`, so they appear
whole. model_dir is the cache: nothing is fetched while its files are there.
"""

import collections
import contextlib
import io
import os
import sys
import tarfile
import tempfile

import numpy as np
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.features import extract_config

# The published files (their names and URLs are the settings' defaults).
INCEPTION_URL = extract_config.INCEPTION_URL
PCA_URL = extract_config.PCA_URL
VGGISH_PCA_URL = extract_config.VGGISH_PCA_URL
VGGISH_MODEL_URL = extract_config.VGGISH_MODEL_URL
DEFAULT_URLS = {"inception": INCEPTION_URL, "pca": PCA_URL,
                "vggish_pca": VGGISH_PCA_URL}
INCEPTION_GRAPH = extract_config.INCEPTION_GRAPH
PCA_FILES = extract_config.PCA_FILES
VGGISH_DIR = extract_config.VGGISH_DIR
VGGISH_PCA_FILE = extract_config.VGGISH_PCA_FILE

# Where each model file is: the visual files always, audio ones or None.
ModelPaths = collections.namedtuple(
    "ModelPaths", "model_dir inception_graph vggish_model vggish_pca_params")


class ModelError(utils.Yt8mError):
  """A model file that is missing, cannot be fetched or is not as expected."""


def join_path(directory, name):
  return directory.rstrip("/") + "/" + name if "://" in directory else (
      os.path.join(directory, name))


def read_bytes(path):
  with tf.io.gfile.GFile(path, "rb") as f:
    return f.read()


def load_npy(path, what):
  """A NumPy array (or .npz archive) read through tf.io.gfile."""
  try:
    loaded = np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
  except (OSError, ValueError, tf.errors.OpError) as e:
    raise ModelError(f"{path}: not a NumPy {what} file ({e})") from None
  return loaded


def _fetch(url, directory, sha256=None):
  """Downloads url into `directory` with keras.utils.get_file; its path.

  get_file reads any URL urllib does (http, https, file://), shows a
  progress bar (sent to stderr here: stdout is the commands' output) and,
  given a SHA-256, checks the file against it. Its own cache is not used:
  the unpacked files in model_dir are what is kept, so `directory` is a
  temporary one.
  """
  import keras  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  with contextlib.redirect_stdout(sys.stderr):
    return keras.utils.get_file(
        fname="download", origin=url, file_hash=sha256 or None,
        hash_algorithm="sha256", cache_dir=directory, cache_subdir="")


def _write_bytes(path, data):
  outputs.write_file(path, lambda f: f.write(data), mode="wb")


def split_checksum(url):
  """(url, sha256 or None) of "URL" or "URL#sha256=HEX" (pip's notation)."""
  base, _, fragment = url.partition("#")
  if fragment.startswith("sha256="):
    return base, fragment[len("sha256="):].strip().lower()
  return url, None


def fetch_model_files(model_dir, names, url, download=True):
  """Makes sure model_dir holds `names`, fetching them from `url` if not.

  url is a .tgz holding the files (any folder inside) or the single file,
  optionally ending in "#sha256=HEX": the download's expected SHA-256,
  checked before anything is unpacked. Raises ModelError naming the first
  missing file and where to get it.
  """
  url, sha256 = split_checksum(url)
  missing = [n for n in names
             if not tf.io.gfile.exists(join_path(model_dir, n))]
  if not missing:
    return
  first = join_path(model_dir, missing[0])
  archive = url.endswith((".tgz", ".tar.gz"))
  how = (f"download {url} and unpack it into {model_dir}" if archive
         else f"download {url} into {model_dir}")
  if not download:
    raise ModelError(f"{first} is missing: {how}")
  tf.io.gfile.makedirs(model_dir)
  outputs.remove_stale(model_dir)
  with tempfile.TemporaryDirectory() as temp:
    try:
      local = _fetch(url, temp, sha256)
    except ValueError:  # get_file: the SHA-256 does not match
      raise ModelError(f"{first} is missing and {url} is not the expected "
                       f"file (its SHA-256 is not {sha256}); {how}") from None
    except Exception as e:  # pylint: disable=broad-except
      # get_file raises a bare Exception: "URL fetch failure on URL: CODE
      # -- REASON" (CODE None for network errors).
      reason = str(e).replace(f"URL fetch failure on {url}: ", "")
      reason = reason.replace("None -- ", "").replace(" -- ", " ").strip()
      raise ModelError(f"{first} is missing and {url} cannot be fetched "
                       f"({reason or type(e).__name__}); {how}") from None
    if archive:
      _unpack(local, url, missing, model_dir, how)
    else:
      with open(local, "rb") as f:
        _write_bytes(join_path(model_dir, missing[0]), f.read())
  still = [n for n in missing
           if not tf.io.gfile.exists(join_path(model_dir, n))]
  if still:
    raise ModelError(f"{url} has no {still[0]}; {how}")


def _unpack(local, url, names, model_dir, how):
  """Writes the archive's files called `names` (in any folder of it) into
  model_dir; nothing else of the archive is read or unpacked."""
  try:
    with tarfile.open(local, "r:gz") as tar:
      members = {os.path.basename(m.name): m for m in tar.getmembers()
                 if m.isfile()}
      for name in names:
        if name in members:
          _write_bytes(join_path(model_dir, name),
                       tar.extractfile(members[name]).read())
  except (tarfile.TarError, OSError, EOFError) as e:
    raise ModelError(f"{url} is not a .tgz archive ({e}); {how}") from None


def locate(model_dir, vggish_model="", vggish_pca_params="", download=True,
           urls=None):
  """ModelPaths of the model files, fetching missing ones when allowed.

  vggish_model: "" means <model_dir>/vggish if it is a directory, else no
  audio. vggish_pca_params: "" means <model_dir>/vggish_pca_params.npz
  (fetched when missing and a VGGish model is used).
  """
  urls = dict(DEFAULT_URLS, **(urls or {}))
  fetch_model_files(model_dir, PCA_FILES, urls["pca"], download)
  fetch_model_files(model_dir, [INCEPTION_GRAPH], urls["inception"], download)
  vggish = pca = None
  path = vggish_model or join_path(model_dir, VGGISH_DIR)
  if vggish_model or tf.io.gfile.isdir(path):
    if not tf.io.gfile.isdir(path):
      raise ModelError(
          f"--vggish_model: {path} is not a directory (a VGGish SavedModel, "
          f"e.g. {VGGISH_MODEL_URL} unpacked)")
    vggish = path
    if vggish_pca_params:
      if not tf.io.gfile.exists(vggish_pca_params):
        raise ModelError(f"--vggish_pca_params: {vggish_pca_params} not "
                         f"found (get it from {VGGISH_PCA_URL})")
      pca = vggish_pca_params
    else:
      fetch_model_files(model_dir, [VGGISH_PCA_FILE], urls["vggish_pca"],
                        download)
      pca = join_path(model_dir, VGGISH_PCA_FILE)
  return ModelPaths(model_dir, join_path(model_dir, INCEPTION_GRAPH), vggish,
                    pca)


def options(config):
  """Keyword arguments of Extractor.from_model_dir from a ModelFilesConfig
  (extract_config)."""
  return dict(model_dir=config.model_dir,
              vggish_model=config.vggish_model,
              vggish_pca_params=config.vggish_pca_params,
              download=config.download,
              urls={"inception": config.inception_url,
                    "pca": config.pca_url,
                    "vggish_pca": config.vggish_pca_url})
