"""The API tests share one World (tests/support/api_world.py)."""

import pytest

from support import api_world


@pytest.fixture(scope="session")
def world(tmp_path_factory):
  return api_world.build(tmp_path_factory.mktemp("api"))
