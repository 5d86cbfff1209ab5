"""docs/api.md: every example runs, in order, as one notebook.

The page's `python` blocks run in one namespace and its `sh` blocks as
commands, on a small generated dataset in the layout of the quick start's:
only the paths /tmp/yt8m_data and /tmp/yt8m_model are rewritten to this
test's directories. The errors the page shows are the errors raised.
"""

import contextlib
import io
import os
import re
import shlex

import pytest

from youtube8m import make_dataset

from support import workflow_helpers

DOC = os.path.join(workflow_helpers.REPO, "docs", "api.md")
BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.S | re.M)


def _blocks():
  with open(DOC, encoding="utf-8") as f:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(f.read())]


def test_the_readme_links_the_page():
  with open(os.path.join(workflow_helpers.REPO, "README.md"),
            encoding="utf-8") as f:
    assert "(docs/api.md)" in f.read()


@pytest.mark.slow
def test_every_example_runs(tmp_path):
  blocks = _blocks()
  assert [kind for kind, _ in blocks].count("python") >= 6
  data, models = str(tmp_path / "yt8m_data"), str(tmp_path / "yt8m_model")
  make_dataset.generate(data, num_train=256, num_validate=64, num_test=64,
                        shards=2, max_frames=40)
  paths = {"/tmp/yt8m_data": data, "/tmp/yt8m_model": models}

  def here(text):
    for doc_path, test_path in paths.items():
      text = text.replace(doc_path, test_path)
    return text

  def as_in_doc(text):
    for doc_path, test_path in paths.items():
      text = text.replace(test_path, doc_path)
    return text

  namespace = {"__name__": "docs_api"}
  for number, (kind, code) in enumerate(blocks, 1):
    if kind == "sh":
      args = shlex.split(here(code))
      assert args[0] == "python", code
      workflow_helpers.run_script(args[1:])
      continue
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
      exec(compile(here(code), f"docs/api.md, python block {number}",  # pylint: disable=exec-used
                   "exec"), namespace)
    if "except api.Yt8mError" in code:
      shown = [line[2:] for line in code.splitlines()
               if line.startswith("# ")]
      assert as_in_doc(printed.getvalue()).splitlines() == shown
  assert os.path.isfile(os.path.join(models, "api_video",
                                     "predictions.csv"))
