"""The networks and PCAs that turn frames and audio into YouTube-8M features.

Visual: the 2015-12-05 Inception-v3 frozen graph (`classify_image_graph_def.pb`
from inception-2015-12-05.tgz). A uint8 RGB frame [H, W, 3] fed to
`DecodeJpeg:0` gives 2048 floats at `pool_3/_reshape:0`; the YouTube-8M PCA
(yt8m_pca.tgz) maps them to 1024:
    (x - mean[:, 0]) @ eigenvecs.T[:, :1024] / sqrt(eigenvals[:1024, 0] + 1e-4)
and the writers quantize them with `utils.quantize` (clip to [-2, 2],
round((x + 2) * 255 / 4)).

The graph resizes its input to 299x299 itself (Cast, ExpandDims,
ResizeBilinear), one frame at a time. To batch frames, `InceptionNetwork`
runs that same ResizeBilinear op (same size and attributes, read from the
graph) on a batch, feeds the result to the graph's resize output and reads
the pool_3 tensor that `pool_3/_reshape` reshapes to [1, 2048]. It checks at
load time that this gives the features of the single-frame path on probe
frames, and otherwise runs one frame at a time. The PCA runs in the same
graph (float64).

Audio: VGGish as a SavedModel with the TF Hub `vggish` signature (a 1-D
float32 16 kHz waveform in [-1, 1] -> [N, 128], one row per 0.96 s
example). Each audio frame is the embedding of the 0.975 s of waveform
(96 STFT frames of 25 ms with a 10 ms hop: one 0.96 s example) that starts at
that frame's second, as MediaPipe's graph frames 0.96 s windows with a 1 s
hop. AudioSet's PCA (`vggish_pca_params.npz`) follows,
    (x - pca_means[:, 0]) @ pca_eigen_vectors.T
and AudioSet's postprocessor quantization: clip to [-2, 2], then
(x + 2) * 255 / 4 truncated to a byte (`quantize_audio`; it truncates where
the visual writer rounds).
"""

import numpy as np
import tensorflow as tf

from youtube8m.common import literal_paths
from youtube8m.common import utils
from youtube8m.features import model_files

INPUT_TENSOR = "DecodeJpeg:0"
OUTPUT_TENSOR = "pool_3/_reshape:0"
INCEPTION_SIZE = 2048
RGB_SIZE = 1024
AUDIO_SIZE = 128
AUDIO_SAMPLE_RATE = 16000
# One VGGish example: 96 STFT frames of 400 samples with a 160-sample hop.
VGGISH_WINDOW_SAMPLES = 95 * 160 + 400  # 15600 samples, 0.975 s
VGGISH_WINDOW_SECONDS = VGGISH_WINDOW_SAMPLES / AUDIO_SAMPLE_RATE

ModelError = model_files.ModelError


class VisualPca:
  """The YouTube-8M PCA of Inception's 2048 features, whitened, to 1024."""

  def __init__(self, mean, eigenvals, eigenvecs, source="the PCA files"):
    mean = np.asarray(mean, np.float64)
    eigenvals = np.asarray(eigenvals, np.float64)
    eigenvecs = np.asarray(eigenvecs, np.float64)
    if mean.shape not in ((INCEPTION_SIZE, 1), (INCEPTION_SIZE,)):
      raise ModelError(f"{source}: mean.npy has shape {mean.shape}, "
                       f"expected ({INCEPTION_SIZE}, 1)")
    if (eigenvals.ndim not in (1, 2) or eigenvals.shape[0] < RGB_SIZE):
      raise ModelError(f"{source}: eigenvals.npy has shape {eigenvals.shape},"
                       f" expected ({INCEPTION_SIZE}, 1)")
    if (eigenvecs.ndim != 2 or eigenvecs.shape[1] != INCEPTION_SIZE or
        eigenvecs.shape[0] < RGB_SIZE):
      raise ModelError(f"{source}: eigenvecs.npy has shape {eigenvecs.shape},"
                       f" expected ({INCEPTION_SIZE}, {INCEPTION_SIZE})")
    self.mean = mean.reshape(INCEPTION_SIZE)
    self.projection = eigenvecs.T[:, :RGB_SIZE]
    values = eigenvals if eigenvals.ndim == 1 else eigenvals[:, 0]
    self.scale = np.sqrt(values[:RGB_SIZE] + 1e-4)

  @classmethod
  def load(cls, model_dir):
    arrays = [model_files.load_npy(model_files.join_path(model_dir, name),
                                   "array")
              for name in model_files.PCA_FILES]
    return cls(*arrays, source=model_dir)

  def __call__(self, features):
    """float [B, 2048] -> float32 [B, 1024]."""
    x = np.asarray(features, np.float64) - self.mean
    return ((x @ self.projection) / self.scale).astype(np.float32)


class AudioPca:
  """AudioSet's PCA of VGGish embeddings (whitening included), 128 -> 128."""

  def __init__(self, eigen_vectors, means, source="vggish_pca_params.npz"):
    eigen_vectors = np.asarray(eigen_vectors, np.float64)
    means = np.asarray(means, np.float64)
    if eigen_vectors.shape != (AUDIO_SIZE, AUDIO_SIZE):
      raise ModelError(f"{source}: pca_eigen_vectors has shape "
                       f"{eigen_vectors.shape}, expected (128, 128)")
    if means.shape not in ((AUDIO_SIZE, 1), (AUDIO_SIZE,)):
      raise ModelError(f"{source}: pca_means has shape {means.shape}, "
                       "expected (128, 1)")
    self.matrix = eigen_vectors
    self.means = means.reshape(AUDIO_SIZE)

  @classmethod
  def load(cls, path):
    params = model_files.load_npy(path, ".npz")
    if not hasattr(params, "files"):
      raise ModelError(f"{path}: not a .npz archive")
    for key in ("pca_eigen_vectors", "pca_means"):
      if key not in params.files:
        raise ModelError(f"{path}: no array '{key}' (has {params.files})")
    return cls(params["pca_eigen_vectors"], params["pca_means"], source=path)

  def __call__(self, embeddings):
    """float [T, 128] -> float32 [T, 128]."""
    x = np.asarray(embeddings, np.float64) - self.means
    return (x @ self.matrix.T).astype(np.float32)


def quantize_audio(values):
  """AudioSet's postprocessor: clip to [-2, 2], (x + 2) * 255 / 4, truncate."""
  values = np.clip(np.asarray(values, np.float64), utils.MIN_QUANTIZED_VALUE,
                   utils.MAX_QUANTIZED_VALUE)
  return ((values - utils.MIN_QUANTIZED_VALUE) * (255.0 / 4.0)).astype(
      np.uint8)


def _consumers(graph_def):
  users = {}
  for node in graph_def.node:
    for name in node.input:
      users.setdefault(name.lstrip("^").split(":")[0], []).append(node)
  return users


def _batch_plan(graph_def):
  """(resize node, pool tensor name) to feed a batch, or None."""
  nodes = {node.name: node for node in graph_def.node}
  users = _consumers(graph_def)
  current, chain = INPUT_TENSOR.split(":")[0], []
  resize = None
  for _ in range(8):
    following = users.get(current, [])
    if len(following) != 1:
      return None
    node = following[0]
    if node.op == "ResizeBilinear":
      if node.input[0].split(":")[0] != current:
        return None
      resize = node
      break
    if node.op not in ("Cast", "ExpandDims"):
      return None
    chain.append(node.op)
    current = node.name
  if resize is None or chain.count("ExpandDims") != 1:
    return None
  size = nodes.get(resize.input[1].split(":")[0])
  output = nodes.get(OUTPUT_TENSOR.split(":")[0])
  if size is None or size.op != "Const" or output is None or (
      output.op != "Reshape"):
    return None
  return resize, "Cast" in chain, size, output.input[0]


class InceptionNetwork:
  """Runs the Inception GraphDef: uint8 frames [B, H, W, 3] -> [B, 2048].

  With a VisualPca, `pca_features` also applies it, in the same graph run
  (float64, as VisualPca does in numpy): numpy's BLAS threads would compete
  with TensorFlow's for the cores.
  """

  def __init__(self, graph_def_bytes, source=model_files.INCEPTION_GRAPH,
               batch=True, log=None, pca=None):
    self.source = source
    self.pca = pca
    graph_def = tf.compat.v1.GraphDef()
    try:
      graph_def.ParseFromString(graph_def_bytes)
    except Exception:  # pylint: disable=broad-except
      raise ModelError(f"{source}: not a TensorFlow GraphDef") from None
    names = {node.name for node in graph_def.node}
    for tensor in (INPUT_TENSOR, OUTPUT_TENSOR):
      if tensor.split(":")[0] not in names:
        raise ModelError(f"{source}: the graph has no tensor {tensor} (is it "
                         f"{model_files.INCEPTION_GRAPH} from "
                         "inception-2015-12-05.tgz?)")
    self._single = self._single_session(graph_def)
    self._batched = None
    plan = _batch_plan(graph_def) if batch else None
    if plan is not None:
      self._batched = self._batched_session(graph_def, *plan)
      if not self._batch_agrees():
        self._batched = None
        if log:
          log(f"{source}: batched frames do not give the single-frame "
              "features; running one frame at a time")
    self.batched = self._batched is not None

  @classmethod
  def load(cls, model_dir, **kwargs):
    path = model_files.join_path(model_dir, model_files.INCEPTION_GRAPH)
    return cls(model_files.read_bytes(path), source=path, **kwargs)

  @staticmethod
  def _config():
    return tf.compat.v1.ConfigProto(allow_soft_placement=True)

  def _single_session(self, graph_def):
    graph = tf.Graph()
    with graph.as_default():
      frame = tf.compat.v1.placeholder(tf.uint8, [None, None, 3], name="frame")
      try:
        (output,) = tf.graph_util.import_graph_def(
            graph_def, input_map={INPUT_TENSOR: frame},
            return_elements=[OUTPUT_TENSOR], name="inception")
      except (ValueError, tf.errors.OpError) as e:
        raise ModelError(f"{self.source}: cannot import the graph: "
                         f"{str(e).splitlines()[0]}") from None
      reduced = self._pca_ops(output)
    session = tf.compat.v1.Session(graph=graph, config=self._config())
    return session, frame, output, reduced

  def _pca_ops(self, features):
    """float32 [N, 2048] -> float32 [N, 1024] (None without a PCA)."""
    if self.pca is None:
      return None
    x = tf.cast(tf.reshape(features, [-1, INCEPTION_SIZE]), tf.float64)
    x = tf.matmul(x - tf.constant(self.pca.mean),
                  tf.constant(self.pca.projection))
    return tf.cast(x / tf.constant(self.pca.scale), tf.float32)

  def _batched_session(self, graph_def, resize, cast, size, pool):
    graph = tf.Graph()
    with graph.as_default():
      frames = tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3],
                                        name="frames")
      images = tf.cast(frames, tf.float32) if cast else frames
      size_value = tf.make_ndarray(size.attr["value"].tensor)
      resized = tf.raw_ops.ResizeBilinear(
          images=images, size=tf.constant(size_value),
          align_corners=resize.attr["align_corners"].b,
          half_pixel_centers=resize.attr["half_pixel_centers"].b)
      try:
        (pooled,) = tf.graph_util.import_graph_def(
            graph_def, input_map={resize.name + ":0": resized},
            return_elements=[pool if ":" in pool else pool + ":0"],
            name="inception")
      except (ValueError, tf.errors.OpError):
        return None
      output = tf.reshape(pooled, [-1, INCEPTION_SIZE])
      reduced = self._pca_ops(output)
    session = tf.compat.v1.Session(graph=graph, config=self._config())
    return session, frames, output, reduced

  def _batch_agrees(self):
    if self._batched is None:
      return False
    probe = np.random.RandomState(0).randint(0, 256, [2, 45, 61, 3]).astype(
        np.uint8)
    try:
      batched = self._run_batched(probe)
    except Exception:  # pylint: disable=broad-except
      return False
    single = self._run_single(probe)
    scale = max(1.0, float(np.abs(single).max()))
    return batched.shape == single.shape and bool(
        np.allclose(batched, single, rtol=1e-4, atol=1e-4 * scale))

  def _run_single(self, frames, reduced=False):
    session, frame, output, pca = self._single
    fetch = pca if reduced else output
    rows = [session.run(fetch, {frame: f}) for f in frames]
    return np.concatenate(rows).reshape(len(frames), -1)

  def _run_batched(self, frames, reduced=False):
    session, placeholder, output, pca = self._batched
    return session.run(pca if reduced else output, {placeholder: frames})

  def _run(self, frames, reduced):
    frames = np.asarray(frames, np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
      raise ValueError(f"frames must be [B, H, W, 3], not {frames.shape}")
    if self._batched is not None:
      return self._run_batched(frames, reduced)
    return self._run_single(frames, reduced)

  def __call__(self, frames):
    """uint8 [B, H, W, 3] RGB -> float32 [B, 2048] pool_3 features."""
    return self._run(frames, reduced=False)

  def pca_features(self, frames):
    """uint8 [B, H, W, 3] RGB -> float32 [B, 1024], the PCA applied."""
    if self.pca is None:
      raise ValueError("this InceptionNetwork was built without a PCA")
    return self._run(frames, reduced=True)


class VggishNetwork:
  """A VGGish SavedModel: 0.975 s windows [T, 15600] -> embeddings [T, 128]."""

  def __init__(self, model_dir):
    self.source = model_dir
    try:
      with literal_paths.readable(model_dir, prefix=False) as readable:
        model = tf.saved_model.load(readable)
    except Exception as e:  # pylint: disable=broad-except
      reason = str(getattr(e, "message", e)).strip().splitlines()
      raise ModelError(f"{model_dir}: not a VGGish SavedModel "
                       f"({reason[0] if reason else type(e).__name__})"
                       ) from None
    self._model = model  # keeps the variables alive
    self._call = self._callable(model)
    probe = np.asarray(self._call(tf.zeros([VGGISH_WINDOW_SAMPLES])))
    if probe.ndim != 2 or probe.shape[1] != AUDIO_SIZE or probe.shape[0] < 1:
      raise ModelError(
          f"{model_dir}: a {VGGISH_WINDOW_SECONDS} s waveform gives an "
          f"output of shape {probe.shape}, expected [1, {AUDIO_SIZE}] (the "
          "TF Hub vggish signature: 1-D float32 16 kHz waveform -> [N, 128])")

    call = self._call

    @tf.function(input_signature=[
        tf.TensorSpec([None, VGGISH_WINDOW_SAMPLES], tf.float32)])
    def embed(windows):
      return tf.map_fn(lambda w: call(w)[0], windows,
                       fn_output_signature=tf.TensorSpec([AUDIO_SIZE],
                                                         tf.float32))

    self._embed = embed

  def _callable(self, model):
    if callable(model):
      return model
    signatures = getattr(model, "signatures", {})
    if "serving_default" not in signatures:
      raise ModelError(f"{self.source}: the SavedModel is not callable and "
                       "has no serving_default signature")
    signature = signatures["serving_default"]
    (name,) = signature.structured_input_signature[1].keys()

    def call(waveform):
      outputs = signature(**{name: waveform})
      return next(iter(outputs.values()))

    return call

  def __call__(self, windows):
    """float32 [T, 15600] -> float32 [T, 128] (one embedding per window)."""
    windows = np.asarray(windows, np.float32)
    if windows.shape[0] == 0:
      return np.zeros([0, AUDIO_SIZE], np.float32)
    return self._embed(windows).numpy()


def audio_windows(waveform, num_frames, period_seconds):
  """[num_frames, 15600] windows, window k starting at k * period seconds.

  Windows past the end of the waveform are padded with silence (zeros).
  """
  starts = [int(round(k * period_seconds * AUDIO_SAMPLE_RATE))
            for k in range(num_frames)]
  out = np.zeros([num_frames, VGGISH_WINDOW_SAMPLES], np.float32)
  for k, start in enumerate(starts):
    piece = waveform[start:start + VGGISH_WINDOW_SAMPLES]
    out[k, :piece.shape[0]] = piece
  return out
