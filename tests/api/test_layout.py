"""Where the API sits: above the libraries it joins, below the commands.

youtube8m/api imports no command (a module directly in youtube8m/), and
no library folder imports youtube8m.api: commands and the API run the
same library code, and neither can come to depend on the other's.
"""

import ast
import os

import youtube8m

ROOT = os.path.dirname(youtube8m.__file__)


def _commands():
  return {name[:-3] for name in os.listdir(ROOT)
          if name.endswith(".py") and name != "__init__.py"}


def _imports(path):
  """Dotted names of the youtube8m modules a file imports."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.update(f"{node.module}.{a.name}" for a in node.names)
      names.add(node.module)
  return {n for n in names if n.startswith("youtube8m.")}


def _library_files():
  for folder, _, files in os.walk(ROOT):
    if folder != ROOT:
      for name in files:
        if name.endswith(".py"):
          yield os.path.join(folder, name)


def test_the_api_imports_no_command_and_no_library_imports_the_api():
  commands = {f"youtube8m.{c}" for c in _commands()}
  api_folder = os.path.join(ROOT, "api")
  checked = 0
  for path in _library_files():
    imported = _imports(path)
    if path.startswith(api_folder + os.sep):
      checked += 1
      assert not imported & commands, path
    else:
      assert not {n for n in imported if n == "youtube8m.api" or
                  n.startswith("youtube8m.api.")}, path
  assert checked >= 5
