"""The error classes: each survives pickling with its attributes, and no built-in exception leaves the package."""

from __future__ import annotations

import ast
import builtins
import multiprocessing
import pickle
from pathlib import Path

import pytest

import dkl_zoo
from dkl_zoo import errors

PACKAGE = Path(dkl_zoo.__file__).parent

# constructor arguments of the classes whose __init__ takes more than a message
SAMPLES = {
    "UnknownModelError": ("ikl-at-cifar10-wrn43", ["ikl-at-cifar10-wrn34", "ikl-at-cifar100-wrn34"]),
    "RemoteNotFoundError": ("Not found", "dkl-zoo/x", "http://127.0.0.1:1", "Check it."),
    "RepositoryNotFoundError": ("Repository not found", "dkl-zoo/x", "http://127.0.0.1:1", "Publish it."),
    "RevisionNotFoundError": ("Revision 'v9' not found", "dkl-zoo/x", "http://127.0.0.1:1", "Check it."),
    "EntryNotFoundError": ("File 'model.safetensors' not found", "dkl-zoo/x", "http://127.0.0.1:1", "Publish it."),
    "HubAccessError": ("the Hub answered HTTP 500", 500),
    "IntegrityError": ("/cache/model.safetensors", "a" * 64, "b" * 64),
    "NoRecordedHashError": ("/cache/model.safetensors",),
    "StateDictMismatchError": (["fc.weight"], ["module.fc.weight"], ["conv1.weight (3,) != (4,)"]),
    "EvaluationStateError": ("state.json holds another evaluation", ["model", "eps"]),
    "ImageReadError": ("/photos/cat.png", "truncated image file"),
}


CLASSES = [name for name in errors.__all__ if name != "Remedy"]


def _instances():
    for name in CLASSES:
        cls = getattr(errors, name)
        args = SAMPLES.get(name, (f"{name}: what went wrong, and what to do",))
        yield name, cls(*args)


def test_every_class_with_its_own_arguments_has_a_sample():

    own_init = [name for name in CLASSES if "__init__" in vars(getattr(errors, name))]
    assert sorted(own_init) == sorted(n for n in SAMPLES if "__init__" in vars(getattr(errors, n)))


@pytest.mark.parametrize("name, error", list(_instances()), ids=[n for n, _ in _instances()])
def test_every_exported_error_round_trips_through_pickle(name, error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    public = {k: v for k, v in vars(error).items() if not k.startswith("_")}
    assert {k: v for k, v in vars(again).items() if not k.startswith("_")} == public
    assert isinstance(again, errors.DklZooError)


def _raise_in_child(queue) -> None:  # a spawned process sends its error back the way torchrun's workers do
    try:
        dkl_zoo.load("ikl-at-cifar10-wrn43")
    except errors.DklZooError as error:
        queue.put(error)


def test_an_error_crosses_a_process_boundary():
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_raise_in_child, args=(queue,))
    child.start()
    error = queue.get(timeout=120)
    child.join(timeout=60)
    assert isinstance(error, errors.UnknownModelError) and error.suggestions[0] == "ikl-at-cifar10-wrn34"


BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()  # SystemExit, KeyboardInterrupt: not errors
    if isinstance(value, type) and issubclass(value, Exception) and value is not StopIteration
}
# (module, function): why a built-in class is right there
ALLOWED = {
    ("__init__.py", "__getattr__"): "a module's __getattr__ must raise AttributeError (hasattr, getattr defaults)",
}


def _builtin_raises() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] + [tree]:
            body = (
                function.body
                if function is not tree
                else [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            )
            for node in (n for stmt in body for n in ast.walk(stmt)):
                if not isinstance(node, ast.Raise) or node.exc is None:
                    continue
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id in BUILTIN_ERRORS:
                    where = (path.relative_to(PACKAGE).as_posix(), getattr(function, "name", "<module>"))
                    if where not in ALLOWED:
                        found.append(f"{where[0]}:{node.lineno} ({where[1]}) raises {target.id}")
    return sorted(set(found))


def test_no_built_in_exception_is_raised_in_the_package():
    assert _builtin_raises() == []


def test_the_source_check_finds_a_planted_built_in_raise(tmp_path, monkeypatch):
    planted = tmp_path / "dkl_zoo"
    planted.mkdir()
    (planted / "bad.py").write_text("def f():\n    raise ValueError('x')\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", planted)
    assert _builtin_raises() == ["bad.py:2 (f) raises ValueError"]


def test_library_messages_do_not_speak_in_command_line_flags():
    """The library does not know a command line called it: its messages name keywords, not flags."""
    import re

    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cli.py" or "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                text = ast.unparse(node.exc)
                assert not re.search(r"(?<![\w-])--[a-z]", text), f"{path.name}:{node.lineno}: {text[:120]}"
