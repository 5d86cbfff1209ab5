"""warm_start.py: --init_from_checkpoint takes another run's weights."""

import dataclasses

import numpy as np
import pytest

from youtube8m.common import utils
from youtube8m.models import builders
from youtube8m.models import model_config
from youtube8m.training import train_lib
from youtube8m.training import warm_start

from support import tiny


def _config(tmp_path, source, **kwargs):
  return train_lib.TrainConfig(train_dir=str(tmp_path / "new"),
                               init_from_checkpoint=source, **kwargs)


def test_flags_come_from_the_source(tmp_path):
  source, _ = tiny.checkpoint_dir(tmp_path / "src")
  config = _config(tmp_path, source, explicit_flags=frozenset({"model"}),
                   model_flags=dict(model_config.all_defaults(),
                                    model="MoeModel"))
  with pytest.raises(utils.Yt8mError, match="--model=MoeModel .saved: "
                     "LogisticModel. contradicts"):
    warm_start.inherit_flags(config)
  config = dataclasses.replace(config, explicit_flags=frozenset())
  inherited = warm_start.inherit_flags(config)
  assert inherited.model_flags == model_config.load(source)
  assert inherited.explicit_flags == frozenset(inherited.model_flags)


@pytest.mark.parametrize("name", ["src", "src[lr=0.01]*?"])
def test_weights_are_restored_from_a_dir_or_a_prefix(tmp_path, name):
  source, model = tiny.checkpoint_dir(tmp_path / name, scale=3.0, step=5)
  for path in (source, f"{source}/ckpt-5"):
    config = _config(tmp_path, path)
    assert warm_start.applies(config)
    fresh, _ = builders.build_model(model_config.load(source))
    assert warm_start.restore_weights(fresh, config).endswith("ckpt-5")
    for a, b in zip(model.trainable_variables, fresh.trainable_variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_an_own_checkpoint_wins_and_bad_sources_are_named(tmp_path):
  source, _ = tiny.checkpoint_dir(tmp_path / "src")
  tiny.checkpoint_dir(tmp_path / "new")
  config = _config(tmp_path, source)
  assert not warm_start.applies(config)  # resume train_dir's own run
  assert warm_start.inherit_flags(config) is config
  assert warm_start.applies(dataclasses.replace(config, start_new_model=True))
  missing = _config(tmp_path / "x", str(tmp_path / "missing"))
  with pytest.raises(utils.Yt8mError, match="neither a train_dir nor"):
    warm_start.inherit_flags(missing)
  (tmp_path / "bare").mkdir()
  with pytest.raises(utils.Yt8mError, match="no checkpoint in that"):
    warm_start.inherit_flags(_config(tmp_path / "y", str(tmp_path / "bare")))
