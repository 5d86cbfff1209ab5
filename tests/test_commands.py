"""Every command as a user meets it: --help, bad flags, quiet output.

* `--help` exits 0, lists the command's own flags (and, for export_model.py,
  not the training-only model flags), and loads no TensorFlow.
* A bad flag is one `error:` line, exit status 1, found before TensorFlow is
  imported, and nothing is created.
* Each command run on a small case prints no TensorFlow C++ start-up line
  (support/command_probe.py plants one, so this does not depend on what a
  TensorFlow build prints), no INFO line of TensorFlow's or Keras' Python
  side, and no temporary name (`yt8m-tmp`).

The in-process tests (not slow) check the same guarantees through
`cli.run(main, argv)`; the subprocess tests are marked slow.
"""

import json
import os
import re
import subprocess
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m.common import cli
from youtube8m.common import console
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.models import base
from youtube8m.models import catalog
from youtube8m.models import model_config
from youtube8m.training import train_config

from support import command_probe
from support import media
from support import workflow_helpers as wh

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "support",
                     "command_probe.py")
# Each command, a few of its own flags, and flags it must not list.
COMMANDS = [
    ("train.py", ["--train_data_pattern", "--batch_size", "--model",
                  "--dbof_cluster_size", "--optimizer"], []),
    ("eval.py", ["--eval_data_pattern", "--run_once", "--segment_labels",
                 "--model"], ["--optimizer"]),
    ("inference.py", ["--output_file", "--segment_max_pred",
                      "--input_model_tgz", "--segment_labels"],
     ["--optimizer"]),
    ("export_model.py", ["--output_dir", "--checkpoint", "--model",
                         "--feature_names", "--quantize", "--ensemble"],
     ["--dbof_cluster_size", "--moe_num_mixtures", "--optimizer"]),
    ("convert_prediction_from_json_to_csv.py",
     ["--json_prediction_files_pattern", "--csv_output_file"], []),
    ("-m youtube8m.train", ["--train_data_pattern", "--model"], []),
    ("-m youtube8m.score", ["--predictions", "--labels", "--top_n"], []),
    ("-m youtube8m.segment_eval", ["--eval_data_pattern", "--submission_file",
                                   "--top_n", "--num_classes"], []),
    ("-m youtube8m.model_size", ["--model", "--nextvlad_cluster_size"], []),
    ("-m youtube8m.ensemble", ["--predictions", "--fit_labels", "--weights",
                               "--top_n"], []),
    ("-m youtube8m.average_checkpoints", ["--train_dir", "--num_checkpoints",
                                          "--output_dir"], []),
    ("-m youtube8m.make_dataset", ["--output_dir", "--num_train"], []),
    ("-m youtube8m.extract_features", ["--input_videos_csv", "--model_dir",
                                       "--inception_url"], []),
    ("-m youtube8m.convert_mediapipe", ["--input", "--output"], []),
    ("-m youtube8m.label_video", ["--timeline_png", "--model_dir"], []),
    ("-m youtube8m.cloud", ["--config", "--staging_bucket", "--region"], []),
    ("-m youtube8m.benchmark", ["reader", "train_step"], []),
    ("-m youtube8m.benchmark train_step", ["--model", "--steps"], []),
]
# A benchmark's module (youtube8m/benchmarks/) is a TensorFlow library that
# defines its settings on import: its --help may load TensorFlow.
LOADS_TENSORFLOW_FOR_HELP = {"-m youtube8m.benchmark train_step"}
# A bad flag of each command that needs TensorFlow to work, and its error.
BAD_FLAGS = [
    ("train.py", ["--model=NextVLADModel", "--train_data_pattern=x"],
     "--model: unknown model 'NextVLADModel' (did you mean 'NeXtVLADModel'"),
    ("train.py", ["--train_data_pattern=x", "--optimizer=adam"],
     "(did you mean 'AdamOptimizer'?)"),
    ("train.py", ["--batchsize=3"], "Did you mean: batch_size"),
    ("train.py", [], "--train_data_pattern is required"),
    ("eval.py", ["--eval_data_pattern=x", "--top_k=0"],
     "--top_k=0 is invalid"),
    ("inference.py", ["--label_loss=Hinge"], "(did you mean 'HingeLoss'?)"),
    ("export_model.py", ["--moe_num_mixtures=3"],
     "Unknown command line flag 'moe_num_mixtures'"),
    ("-m youtube8m.score", ["--labels=x"], "--predictions is required"),
    ("-m youtube8m.segment_eval", ["--eval_data_pattern=x",
                                   "--submission_file=y", "--top_n=0"],
     "--top_n=0 is invalid"),
    ("-m youtube8m.model_size", ["--dbof_pooling_method=mean"],
     "use one of max, average"),
    ("-m youtube8m.ensemble", ["--predictions=a.csv,b.csv",
                               "--weight_step=0"], "--weight_step=0"),
    ("-m youtube8m.average_checkpoints", ["--train_dir=d"],
     "--output_dir is required"),
    ("-m youtube8m.extract_features", ["--input_videos_csv=v.csv"],
     "--output_tfrecords_file is required"),
    ("-m youtube8m.make_dataset", ["--output_dir=d", "--id_key=vid"],
     "(did you mean 'video_id'?)"),
    ("-m youtube8m.label_video", ["--top_k=0", "a.mp4"],
     "--top_k=0 is invalid"),
]
START_UP = console.NOISE
LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ ([^:\s]+):\d+\]")
OWN_FILES = {name for _, _, files in os.walk(os.path.join(wh.REPO,
                                                          "youtube8m"))
             for name in files if name.endswith(".py")}


def _probe(command, args, tmp_path, timeout=300):
  """(CompletedProcess, whether TensorFlow was imported)."""
  record = tmp_path / "probe.txt"
  if record.exists():
    record.unlink()
  env = wh.script_env({"YT8M_PROBE_FILE": str(record)})
  env.pop("TF_CPP_MIN_LOG_LEVEL")  # the user's default: the console filters
  result = subprocess.run([sys.executable, PROBE] + command.split() + args,
                          cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)
  imported = record.read_text() if record.exists() else "(no record)"
  return result, "tensorflow imported: True" in imported


def _script(command):
  """The probe's form of a command: a script path is made absolute."""
  first, *rest = command.split()
  if first.endswith(".py"):
    first = os.path.join(wh.REPO, first)
  return " ".join([first] + rest)


@pytest.mark.slow
@pytest.mark.parametrize("command, listed, unlisted", COMMANDS,
                         ids=[c for c, _, _ in COMMANDS])
def test_help_lists_the_commands_flags_without_tensorflow(
    tmp_path, command, listed, unlisted):
  result, imported = _probe(_script(command), ["--help"], tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  for flag in listed:
    assert flag in result.stdout, (flag, result.stdout[:3000])
  for flag in unlisted:
    assert f"{flag}:" not in result.stdout, flag
  assert imported == (command in LOADS_TENSORFLOW_FOR_HELP), (
      "--help imported TensorFlow")
  assert not os.listdir(tmp_path / ".") or os.listdir(tmp_path) == [
      "probe.txt"]


@pytest.mark.slow
@pytest.mark.parametrize("command, args, message", BAD_FLAGS,
                         ids=[f"{c}:{' '.join(a)}" for c, a, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_before_tensorflow(tmp_path, command, args,
                                                   message):
  result, imported = _probe(_script(command), args + [
      f"--train_dir={tmp_path / 'run'}"] if command == "train.py" else
                            args, tmp_path)
  assert result.returncode == 1, result.stderr[-2000:]
  (line,) = result.stderr.strip().splitlines()
  assert line.startswith("error: ") and message in line, line
  assert not imported, "the flag check ran after importing TensorFlow"
  assert sorted(os.listdir(tmp_path)) == ["probe.txt"]  # nothing created


@pytest.mark.slow
def test_startup_answers_in_one_process_without_tensorflow(tmp_path):
  """`python train.py --help` and a bad flag import no TensorFlow (the
  1.5 s goal; time it with /usr/bin/time on a quiet machine)."""
  for args in (["--help"], ["--model=NextVLADModel"]):
    result, imported = _probe(_script("train.py"), args, tmp_path)
    assert result.returncode in (0, 1) and not imported, args


# In-process: the same guarantees through cli.run(main, argv).


@pytest.fixture
def train_command(monkeypatch):
  """youtube8m.train's main, its flags on absl's FLAGS for this test only,
  and its workflow library (TensorFlow) made impossible to import: a check
  that ran after that import would fail with ImportError instead."""
  from youtube8m import train  # pylint: disable=g-import-not-at-top
  from youtube8m import training  # pylint: disable=g-import-not-at-top
  if "train_data_pattern" not in flags.FLAGS:  # removed by an earlier test
    settings.define_flags(train_config.TrainConfig)
    model_config.define_flags(argv=[])
  monkeypatch.delattr(training, "train_lib", raising=False)
  monkeypatch.setitem(sys.modules, "youtube8m.training.train_lib", None)
  yield train.main
  flags.FLAGS.unparse_flags()
  for name in [f.name for f in settings.flag_fields(train_config.TrainConfig)
              ] + list(model_config.all_flags()):
    if name in flags.FLAGS:
      delattr(flags.FLAGS, name)


def _exit_line(capsys, main, argv):
  with pytest.raises(SystemExit) as exit_info:
    cli.run(main, ["prog"] + argv)
  return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def test_the_guard_is_real(train_command, tmp_path):
  # Valid flags reach the library's import, which the fixture forbids.
  with pytest.raises(ImportError):
    cli.run(train_command, ["prog", "--train_data_pattern=x",
                            f"--train_dir={tmp_path / 'run'}"])


def test_a_typo_in_model_suggests_and_creates_nothing(
    train_command, capsys, tmp_path):
  train_dir = tmp_path / "run"
  code, lines = _exit_line(capsys, train_command, [
      "--model=NextVLADModel", "--train_data_pattern=x",
      f"--train_dir={train_dir}"])
  assert code == 1
  assert lines == [lines[0]] and lines[0].startswith(
      "error: --model: unknown model 'NextVLADModel' (did you mean "
      "'NeXtVLADModel' or 'MixNeXtVLADModel'?)")
  assert not train_dir.exists()


@pytest.mark.parametrize("argv, message", [
    ([], "error: --train_data_pattern is required"),
    (["--train_data_pattern=x", "--batch_size=0"],
     "error: --batch_size=0 is invalid: expected a positive integer"),
    (["--train_data_pattern=x", "--mixed_precision=float16"],
     "(did you mean 'mixed_float16'"),
    (["--train_data_pattern=x", "--label_loss=softmax"],
     "(did you mean 'SoftmaxLoss'?)"),
    (["--train_data_pattern=x", "--video_level_classifier_model=DbofModel"],
     "expected a video-level model"),
    (["--train_data_pattern=x", "--feature_names=rgb,audio"],
     "--feature_names has 2 items"),
    (["--bach_size=3"], "error: Unknown command line flag 'bach_size'"),
])
def test_every_settings_check_runs_before_the_library(
    train_command, capsys, tmp_path, argv, message):
  code, lines = _exit_line(capsys, train_command, argv + [
      f"--train_dir={tmp_path / 'run'}"])
  assert code == 1 and len(lines) == 1 and message in lines[0], lines
  assert not (tmp_path / "run").exists()


@pytest.fixture
def forget_user_models():
  """Removes what a test's own model module added to the model tables."""
  flags_before = dict(catalog.MODEL_FLAGS)
  yield
  for name in set(catalog.MODEL_FLAGS) - set(flags_before):
    del catalog.MODEL_FLAGS[name]
  base._REGISTRY.pop("Tiny", None)  # pylint: disable=protected-access


def test_a_typed_dotted_model_can_bring_its_own_flags(tmp_path, monkeypatch,
                                                      forget_user_models):
  (tmp_path / "my_flagged_models.py").write_text(
      "from youtube8m import models\n"
      "models.define_flag('my_hidden_size', 7, 'Width.', "
      "models.positive_int)\n"
      "class Tiny(models.BaseModel):\n"
      "  def __init__(self, num_classes, my_hidden_size=7, **flags):\n"
      "    super().__init__(num_classes)\n"
      "    self.width = my_hidden_size\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  values = flags.FlagValues()
  argv = ["prog", "--model=my_flagged_models.Tiny", "--my_hidden_size=3"]
  model_config.define_flags(flag_values=values, argv=argv)
  values(argv)
  given, explicit = model_config.flags_given(values)
  assert given["my_hidden_size"] == 3 and "my_hidden_size" in explicit
  values(["prog", "--model=my_flagged_models.Tiny", "--my_hidden_size=0"])
  with pytest.raises(Exception, match="--my_hidden_size=0 is invalid"):
    model_config.check(model_config.flags_given(values)[0])


def test_an_unimportable_dotted_model_is_a_flag_error():
  values = flags.FlagValues()
  argv = ["prog", "--model=no_such_package.Model"]
  model_config.define_flags(flag_values=values, argv=argv)  # --help works
  values(argv)
  with pytest.raises(Exception, match="cannot import module 'no_such_package'"):
    model_config.check(model_config.flags_given(values)[0])


# Quiet everywhere: each command on a small case.


def _quiet_output(result):
  """The problems of one command's output: start-up lines, TensorFlow's
  INFO lines, temporary names."""
  text = result.stdout + result.stderr
  problems = [line for line in text.splitlines()
              if START_UP.search(line) or "yt8m-tmp" in line]
  for line in result.stderr.splitlines():
    match = LOG_LINE.match(line)
    if match and match.group(1) not in OWN_FILES:
      problems.append(line)
  if command_probe.PLANTED_LINE in text:
    problems.append("the planted start-up line came through")
  return problems


def _json_lines(path, rows):
  with open(path, "w", encoding="utf-8") as f:
    for video, classes, scores in rows:
      f.write(json.dumps({"prediction": {
          "video_id": video, "class_indexes": classes,
          "predictions": scores}}) + "\n")


def _mediapipe_file(path):
  rng = np.random.default_rng(0)
  sequence = tf.train.SequenceExample()
  sequence.context.feature["clip/data_path"].bytes_list.value.append(b"v.mp4")
  lists = sequence.feature_lists.feature_list
  for k in range(3):
    lists["RGB/feature/floats"].feature.add().float_list.value.extend(
        rng.uniform(-2, 2, 1024))
    lists["RGB/feature/timestamp"].feature.add().int64_list.value.append(
        k * 1000000)
    lists["AUDIO/feature/floats"].feature.add().float_list.value.extend(
        rng.uniform(-2, 2, 128))
    lists["AUDIO/feature/timestamp"].feature.add().int64_list.value.append(
        k * 1000000)
  path.write_bytes(sequence.SerializeToString())


@pytest.mark.slow
def test_every_command_is_quiet(tmp_path):
  data = tmp_path / "data"
  make_dataset.generate(str(data), num_train=16, num_validate=8, num_test=8,
                        shards=1, num_classes=10, min_frames=6, max_frames=12,
                        segments=True, num_segment_validate=6,
                        num_segment_test=6)
  video, frame = str(tmp_path / "video_run"), str(tmp_path / "frame_run")
  (tmp_path / "ids.csv").write_text("Index\n" + "".join(
      f"{i}\n" for i in range(10)))
  _json_lines(tmp_path / "results.jsonl", [("a", [1, 2], [0.9, 0.1])])
  _mediapipe_file(tmp_path / "features.pb")
  models = str(tmp_path / "models")
  media.inception_graph(models)
  media.pca_files(models)
  clip = str(tmp_path / "clip.mp4")
  media.write_video(clip, colors=media.COLORS[:3])
  (tmp_path / "videos.csv").write_text(f"{clip},1;2\n")
  train = ["--num_classes=10", "--max_steps=2", "--batch_size=4",
           "--export_model_steps=0"]
  frame_flags = ["--frame_features", "--feature_names=rgb,audio",
                 "--feature_sizes=1024,128",
                 "--model=FrameLevelLogisticModel"]
  runs = [
      ("-m youtube8m.make_dataset", [f"--output_dir={tmp_path / 'made'}",
                                     "--num_train=2", "--num_validate=1",
                                     "--num_test=1", "--segments=false"]),
      ("train.py", [f"--train_data_pattern={data}/video/train*",
                    f"--train_dir={video}"] + train),
      ("train.py", [f"--train_data_pattern={data}/frame/train*",
                    f"--train_dir={frame}"] + train + frame_flags),
      ("eval.py", [f"--eval_data_pattern={data}/video/validate*",
                   f"--train_dir={video}", "--run_once", "--top_k=5"]),
      ("inference.py", [f"--input_data_pattern={data}/video/validate*",
                        f"--train_dir={video}", "--top_k=5",
                        f"--output_file={tmp_path / 'p.csv'}"]),
      ("inference.py", [f"--input_data_pattern={data}/segment/validate*",
                        f"--train_dir={frame}", "--segment_labels",
                        f"--segment_label_ids_file={tmp_path / 'ids.csv'}",
                        f"--output_file={tmp_path / 's.csv'}"]),
      ("export_model.py", [f"--train_dir={video}"]),
      ("-m youtube8m.score", [f"--predictions={tmp_path / 'p.csv'}",
                              f"--labels={data}/validate_labels.csv",
                              "--num_classes=10"]),
      ("-m youtube8m.score", ["--segment_labels", "--num_classes=10",
                              f"--predictions={tmp_path / 's.csv'}",
                              f"--labels={data}/segment/validate*"]),
      ("-m youtube8m.segment_eval", [
          f"--submission_file={tmp_path / 's.csv'}", "--num_classes=10",
          f"--eval_data_pattern={data}/segment/validate*"]),
      ("-m youtube8m.model_size", ["--num_classes=10"]),
      ("convert_prediction_from_json_to_csv.py", [
          f"--json_prediction_files_pattern={tmp_path / 'results.jsonl'}",
          f"--csv_output_file={tmp_path / 'j.csv'}"]),
      ("-m youtube8m.convert_mediapipe", [
          f"--input={tmp_path / 'features.pb'}",
          f"--output={tmp_path / 'mp.tfrecord'}"]),
      ("-m youtube8m.extract_features", [
          f"--input_videos_csv={tmp_path / 'videos.csv'}",
          f"--output_tfrecords_file={tmp_path / 'own.tfrecord'}",
          f"--model_dir={models}", "--nodownload"]),
      ("-m youtube8m.label_video", [f"--train_dir={frame}",
                                    f"--model_dir={models}", "--nodownload",
                                    clip]),
      ("-m youtube8m.benchmark metrics", ["--num_videos=64", "--trials=1",
                                          "--baseline_videos=8",
                                          "--num_classes=20"]),
  ]
  for command, args in runs:
    result, _ = _probe(_script(command), args, tmp_path, timeout=600)
    assert result.returncode == 0, (command, result.stderr[-3000:])
    assert not _quiet_output(result), (command, _quiet_output(result))
  segments_json = json.loads(_probe(_script("-m youtube8m.segment_eval"), [
      f"--submission_file={tmp_path / 's.csv'}", "--num_classes=10",
      f"--eval_data_pattern={data}/segment/validate*"],
                                    tmp_path)[0].stdout.strip())
  scored = _probe(_script("-m youtube8m.score"), [
      "--segment_labels", "--num_classes=10",
      f"--predictions={tmp_path / 's.csv'}",
      f"--labels={data}/segment/validate*"], tmp_path)[0]
  assert segments_json == json.loads(scored.stdout.strip().splitlines()[-1])
  assert set(segments_json) >= {"map", "num_classes", "top_n"}


def test_a_model_that_cannot_read_the_data_leaves_no_train_dir(tmp_path):
  from youtube8m.training import train_lib  # pylint: disable=g-import-not-at-top
  config = train_config.TrainConfig(
      train_dir=str(tmp_path / "run"),
      train_data_pattern=str(tmp_path / "train*"),
      model_flags=dict(model_config.all_defaults(), model="NeXtVLADModel"),
      explicit_flags=frozenset({"model"}))
  with pytest.raises(utils.Yt8mError, match="reads frame-level features"):
    train_lib.train(config)
  assert not (tmp_path / "run").exists()
