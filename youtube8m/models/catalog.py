"""The model flags and the built-in model names, without TensorFlow.

The commands define one absl flag per model flag and check --model and the
typed model flags before TensorFlow is imported, so that --help and a bad
flag answer at once. Hence this table lives apart from the models (which
import Keras): every built-in model's name, module and input level, every
model flag with its default, help and check. A built-in model's module is
imported when its class is first asked for (`base.get_model_class`).

A model of your own, passed as `--model=my_pkg.my_module.MyModel`, may add
flags with `models.define_flag` at the top of its module; the commands
import that module before they parse the command line (`import_user_model`).

Adding a built-in model: its name and module to BUILTIN_MODELS, its flags
below; tests/models/test_catalog.py checks this table against the models.
"""

import dataclasses
import importlib

from youtube8m.common import checks
from youtube8m.common import utils

# The model flags: train.py, eval.py, inference.py and model_size define one
# absl flag per entry, model_flags.json records them all, and every model
# takes the whole set as keyword arguments and uses the entries it needs.
MODEL_FLAGS = {}

# Loss names of --label_loss (losses.py implements them).
LOSS_NAMES = ("CrossEntropyLoss", "HingeLoss", "SoftmaxLoss")


@dataclasses.dataclass(frozen=True)
class BuiltinModel:
  """Where a built-in model is defined and which input it reads."""
  module: str  # under youtube8m.models
  frame_level: bool


BUILTIN_MODELS = {
    "LogisticModel": BuiltinModel("video_level_models", False),
    "MoeModel": BuiltinModel("video_level_models", False),
    "FrameLevelLogisticModel": BuiltinModel("frame_level_models", True),
    "DbofModel": BuiltinModel("frame_level_models", True),
    "LstmModel": BuiltinModel("frame_level_models", True),
    "NetVLADModel": BuiltinModel("pooling_models", True),
    "NetFVModel": BuiltinModel("pooling_models", True),
    "SoftDbofModel": BuiltinModel("pooling_models", True),
    "NeXtVLADModel": BuiltinModel("nextvlad_models", True),
    "MixNeXtVLADModel": BuiltinModel("nextvlad_models", True),
    "TransformerModel": BuiltinModel("temporal_models", True),
    "GruModel": BuiltinModel("recurrent_models", True),
    "AttentionLstmModel": BuiltinModel("recurrent_models", True),
}


def builtin_module(name):
  """The full module name of built-in model `name`, or None."""
  entry = BUILTIN_MODELS.get(name)
  return None if entry is None else f"youtube8m.models.{entry.module}"


@dataclasses.dataclass(frozen=True)
class ModelFlag:
  """One model flag: its default, its --help text and its value check.

  `check(flag, value)` raises Yt8mError naming the flag when the value is
  invalid; None accepts any value of the default's type. `legacy` (None:
  the default) is the value a model_flags.json written before the flag
  existed stands for: a flag whose default changes what a checkpoint means
  sets it, so that older train_dirs keep restoring as they were trained.
  """
  name: str
  default: object
  help: str
  check: object = None
  # The value names a model class: a registered name, or a dotted path that
  # is imported only when typed on the command line.
  model_class: bool = False
  legacy: object = None


def define_flag(name, default, help, check=None, model_class=False,  # pylint: disable=redefined-builtin
                legacy=None):
  """Adds a model flag; returns its ModelFlag (`legacy`: see ModelFlag).

  A module re-imported (importlib.reload, tests) may define a flag again with
  the same default; a different default for the same name is an error.
  model_class=True marks a flag whose value names a model class (see
  ModelFlag).
  """
  flag = ModelFlag(name, default, help, check, model_class, legacy)
  existing = MODEL_FLAGS.get(name)
  if existing is not None and existing.default != default:
    raise utils.Yt8mError(f"model flag --{name} is defined twice, with "
                          f"defaults {existing.default!r} and {default!r}")
  MODEL_FLAGS[name] = flag
  return flag


# The largest width a model flag may ask for (a layer's units, clusters,
# experts, frames): far above any published YouTube-8M model, and low enough
# that a model_flags.json from elsewhere cannot ask for a matrix that
# exhausts memory one flag at a time.
MAX_WIDTH = 1 << 16
# The most classes a model may have (YouTube-8M has 3862, or 4716 in 2017).
MAX_CLASSES = 1 << 20


def positive_int(flag, value):
  """Check: an integer in 1..MAX_WIDTH (a model flag's size)."""
  checks.int_in_range(1, MAX_WIDTH)(flag, value)


def num_classes_check(flag, value):
  """Check: a number of classes, 1..MAX_CLASSES."""
  checks.int_in_range(1, MAX_CLASSES)(flag, value)


def model_flag_defaults():
  """{flag: default} of every model flag, in definition order."""
  return {name: flag.default for name, flag in MODEL_FLAGS.items()}


def check_model_flags(**model_flags):
  """Raises Yt8mError naming the first known model flag with a bad value."""
  for name, value in model_flags.items():
    flag = MODEL_FLAGS.get(name)
    if flag is not None and flag.check is not None:
      flag.check(name, value)


def unknown_model(name, known):
  """The Yt8mError for an unknown model name, with the nearest names."""
  return utils.Yt8mError(
      f"unknown model '{name}'{checks.closest(name, known)}; registered "
      f"models: {', '.join(sorted(known))} (or give the dotted path of your "
      "own BaseModel subclass, e.g. --model=my_pkg.my_module.MyModel)")


def is_dotted(name):
  return "." in str(name).strip()


# Dotted --model paths import_user_model could not import: {path: error}.
_IMPORT_ERRORS = {}


def check_model(flag, value):
  """Check: a built-in model name or a dotted path (imported when used)."""
  name = str(value).strip()
  if name in _IMPORT_ERRORS:
    raise _IMPORT_ERRORS[name]
  if name not in BUILTIN_MODELS and not is_dotted(name):
    error = unknown_model(name, BUILTIN_MODELS)
    raise utils.Yt8mError(f"--{flag}: {error}")


def video_level_model(flag, value):
  """Check: the name of a video-level model (a frame model's classifier)."""
  name = str(value).strip()
  if name in _IMPORT_ERRORS:
    raise _IMPORT_ERRORS[name]
  if is_dotted(name):
    # Your own classifier: its class says; its module loads Keras.
    frame_level = importlib.import_module(
        "youtube8m.models.base").get_model_class(name).frame_level
  else:
    check_model(flag, name)
    frame_level = BUILTIN_MODELS[name].frame_level
  if frame_level:
    video_level = sorted(n for n, m in BUILTIN_MODELS.items()
                         if not m.frame_level)
    raise checks.bad_flag(flag, value, "expected a video-level model ("
                          f"{', '.join(video_level)})")


# The flags whose value names a model class (ModelFlag.model_class), --model
# (model_config's) included: a dotted path typed for them is imported.
MODEL_CLASS_FLAGS = ("model", "video_level_classifier_model")


def import_user_model(argv):
  """Imports the modules of the dotted model paths typed in `argv`.

  `--model=my_pkg.MyModel` (or --video_level_classifier_model=...): the
  user typed it, so its module may run. So `models.define_flag` calls at
  the top of your model's module become command-line flags. A module that
  cannot be imported is reported by `check_model` with the other flag
  errors (--help still works). Paths read from files are never imported
  here (model_config.allow_model_classes).
  """
  for i, arg in enumerate(argv):
    value = None
    for name in MODEL_CLASS_FLAGS:
      if arg.startswith(f"--{name}="):
        value = arg.split("=", 1)[1]
      elif arg == f"--{name}" and i + 1 < len(argv):
        value = argv[i + 1]
    if value and is_dotted(value) and value.strip() not in BUILTIN_MODELS:
      try:
        importlib.import_module("youtube8m.models.base").import_model_class(
            value)
      except utils.Yt8mError as e:
        _IMPORT_ERRORS[value.strip()] = e


# The flags of the built-in models, with the defaults of the code each model
# follows. DbofModel, LstmModel and MoeModel keep the starter code's.
_int, _bool = positive_int, checks.boolean

# Every model that ends in a video-level classifier.
define_flag("l2_penalty", 1e-8, "L2 penalty on the classifier weights: "
            "l2_penalty * sum(w^2) / 2.", checks.non_negative)
# video_level_models.py
define_flag("moe_num_mixtures", 2, "Experts per class in MoeModel (a dummy "
            "expert that predicts 0 is added).", _int)
# frame_level_models.py
POOLING_METHODS = ("max", "average")
ACTIVATIONS = ("sigmoid", "relu6")
define_flag("iterations", 30, "Frames DbofModel samples per video.", _int)
define_flag("dbof_add_batch_norm", True, "Batch-normalize the DbofModel "
            "input and projections (instead of biases).", _bool)
define_flag("sample_random_frames", True, "DbofModel training samples "
            "random frames with replacement; false: a random run of "
            "consecutive frames. Evaluation never samples randomly.", _bool)
define_flag("dbof_cluster_size", 8192, "Width of the DbofModel cluster "
            "projection.", _int)
define_flag("dbof_hidden_size", 1024, "Width of the DbofModel hidden "
            "projection.", _int)
define_flag("dbof_pooling_method", "max", "DbofModel pooling over frames: "
            "max or average.", checks.choice(POOLING_METHODS))
define_flag("dbof_activation", "sigmoid", "DbofModel activation: sigmoid or "
            "relu6.", checks.choice(ACTIVATIONS))
define_flag("video_level_classifier_model", "MoeModel", "Video-level model "
            "that classifies the pooled features of a frame-level model "
            "(DbofModel, LstmModel, ...).", video_level_model,
            model_class=True)
define_flag("lstm_cells", 1024, "Units per LSTM layer in LstmModel.", _int)
define_flag("lstm_layers", 2, "Stacked LSTM layers in LstmModel.", _int)
# pooling_models.py: Willow's defaults. Its README's runs: NetVLAD (and
# NetRVLAD) 256 clusters, hidden 1024; NetFV 128 clusters, hidden 1024,
# uncoupled; Soft-DBoF 8000 clusters, hidden 1024; all but Soft-DBoF with
# --gating --moe_prob_gating; --iterations=300 and, as hard-coded there, no
# ReLU after the hidden layer.
BN_MOMENTUM = 0.999  # the published batch-norm momentum (pooling_layers)
define_flag("netvlad_cluster_size", 64, "NetVLADModel clusters of the rgb "
            "stream (the audio stream gets half).", _int)
define_flag("netvlad_hidden_size", 1024, "NetVLADModel hidden layer width.",
            _int)
define_flag("netvlad_add_batch_norm", True, "NetVLADModel and NetFVModel: "
            "batch norm on the input and the cluster logits (instead of "
            "biases), and in context gating.", _bool)
define_flag("lightvlad", False, "NetVLADModel without cluster centres "
            "(NetRVLAD): sums assignment-weighted frames instead of "
            "residuals.", _bool)
define_flag("gating", False, "Context gating after the hidden layer of "
            "NetVLADModel, NetFVModel and SoftDbofModel.", _bool)
define_flag("gating_remove_diag", False, "Context gating ignores each unit's "
            "own weight (the diagonal).", _bool)
define_flag("moe_prob_gating", False, "Context gating of the classifier's "
            "probabilities in NetVLADModel, NetFVModel and SoftDbofModel.",
            _bool)
define_flag("fv_cluster_size", 64, "NetFVModel clusters of the rgb stream "
            "(audio: half).", _int)
define_flag("fv_hidden_size", 2048, "NetFVModel hidden layer width.", _int)
define_flag("fv_couple_weights", True, "NetFVModel cluster means are "
            "fv_coupling_factor * the assignment weights.", _bool)
define_flag("fv_coupling_factor", 0.01, "NetFVModel factor of the coupled "
            "means.", checks.positive)
define_flag("softdbof_maxpool", False, "SoftDbofModel also max-pools the "
            "soft assignments.", _bool)
define_flag("pooling_bn_momentum", BN_MOMENTUM, "Momentum of the batch-norm "
            "moving statistics of NetVLADModel, NetFVModel, SoftDbofModel, "
            "NeXtVLADModel and MixNeXtVLADModel (the published 0.999), which "
            "evaluation uses. With --debias_batch_norm (the default) short "
            "runs need no lower value.", checks.fraction)
# nextvlad_models.py: linrongc's nextvlad.py defaults. Its scripts: single
# model groups 8, clusters 128, hidden 2048, expansion 2, reduction 8,
# dropout 0.5; final mixture clusters 112, reduction 16, mix 3, temperature
# 3, lambda 9; both with --video_level_classifier_model=LogisticModel
# --l2_penalty=1e-5.
define_flag("groups", 8, "NeXtVLAD groups of the rgb stream (audio: half).",
            _int)
define_flag("nextvlad_cluster_size", 64, "NeXtVLAD clusters of the rgb "
            "stream (audio: half).", _int)
define_flag("nextvlad_hidden_size", 1024, "NeXtVLAD hidden layer width.",
            _int)
define_flag("expansion", 2, "NeXtVLAD feature expansion factor (lambda).",
            _int)
define_flag("gating_reduction", 8, "NeXtVLAD SE gating reduction factor.",
            _int)
define_flag("drop_rate", 0.5, "NeXtVLAD dropout rate on the pooled features "
            "(training only).", checks.fraction)
define_flag("mix_number", 3, "MixNeXtVLADModel: NeXtVLAD students.", _int)
define_flag("cl_temperature", 2.0, "MixNeXtVLADModel distillation "
            "temperature.", checks.positive)
define_flag("cl_lambda", 1.0, "MixNeXtVLADModel weight of the distillation "
            "loss (the paper uses temperature^2).", checks.non_negative)
# batch_norm.py: every model with batch norm.
define_flag("debias_batch_norm", True, "Batch-norm moving statistics (which "
            "evaluation uses) are averages of the batches seen, without the "
            "share their initial values keep at the start of training (as "
            "Adam debiases its moments); false: plain moving averages from "
            "mean 0, variance 1. Train dirs written before this flag existed "
            "read as false and keep predicting as before.", _bool,
            legacy=False)
# temporal_models.py and recurrent_models.py: the models that see time.
POSITIONS = ("learned", "sinusoidal")
TEMPORAL_POOLING = ("mean", "cls", "query")
define_flag("sampled_frames", 0, "TransformerModel, GruModel, "
            "AttentionLstmModel: 0 reads every valid frame (padding masked); "
            "K > 0 reads K frames in time order, picked as "
            "--sample_random_frames says (random in training, evenly spaced "
            "or the centred run in evaluation).",
            checks.int_in_range(0, MAX_WIDTH))
define_flag("transformer_layers", 2, "TransformerModel: pre-norm "
            "self-attention blocks.", _int)
define_flag("transformer_heads", 4, "TransformerModel: attention heads (they "
            "divide --transformer_width).", _int)
define_flag("transformer_width", 256, "TransformerModel: width each frame is "
            "projected to.", _int)
define_flag("transformer_ff_width", 1024, "TransformerModel: hidden width of "
            "each block's feed-forward layer.", _int)
define_flag("transformer_dropout", 0.1, "TransformerModel: dropout on the "
            "projected frames and on the outputs of each block's attention "
            "and feed-forward layers (training only).", checks.fraction)
define_flag("transformer_positions", "learned", "TransformerModel: position "
            "information, 'learned' (a table of 300 frames, as many as the "
            "readers keep) or 'sinusoidal' (Vaswani et al.).",
            checks.choice(POSITIONS))
define_flag("transformer_pooling", "mean", "TransformerModel: how the frames "
            "become one vector: 'mean' over the valid frames, 'cls' (the "
            "output of a learned token read with the frames, as BERT's) or "
            "'query' (attention of one learned query over the outputs).",
            checks.choice(TEMPORAL_POOLING))
define_flag("gru_cells", 256, "GruModel: units per GRU (per direction).",
            _int)
define_flag("gru_layers", 1, "GruModel: stacked GRU layers.", _int)
define_flag("gru_bidirectional", True, "GruModel: each layer reads the "
            "frames forward and backward (outputs concatenated); false: "
            "forward only.", _bool)
define_flag("attention_lstm_cells", 256, "AttentionLstmModel: units of the "
            "LSTM in each direction.", _int)
