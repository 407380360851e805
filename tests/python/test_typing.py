"""The installed package is typed: py.typed, and _core.pyi (written by nanobind's stubgen at build
time, with python/bindings/stub_patterns.txt) declares what type checkers need of the C++ half."""

import ast
import os

import inputpipe

PACKAGE = os.path.dirname(inputpipe.__file__)


def _stub():
    with open(os.path.join(PACKAGE, "_core.pyi"), encoding="utf-8") as f:
        return ast.parse(f.read())


def test_the_package_declares_itself_typed():
    assert os.path.isfile(os.path.join(PACKAGE, "py.typed"))


def test_elements_are_any_so_typed_code_uses_them_without_casts():
    iterator = next(n for n in _stub().body if isinstance(n, ast.ClassDef) and n.name == "Iterator")
    returns = {n.name: ast.unparse(n.returns) for n in iterator.body
               if isinstance(n, ast.FunctionDef) and n.returns is not None}
    assert returns["__next__"] == "Any"
    assert returns["__iter__"] == "Iterator"


def test_the_exception_types_and_version_are_declared():
    tree = _stub()
    classes = {n.name: [ast.unparse(b) for b in n.bases]
               for n in tree.body if isinstance(n, ast.ClassDef)}
    assert classes["DataLossError"] == ["ValueError"]
    assert classes["PipelineMismatchError"] == ["ValueError"]
    assert classes["ExternalStateError"] == ["RuntimeError"]
    assert classes["ExternalStateWarning"] == ["UserWarning"]
    annotated = {n.target.id for n in tree.body
                 if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    assert "__version__" in annotated
    # Every name the package re-exports from _core is declared in the stub.
    declared = annotated | set(classes) | {n.name for n in tree.body
                                           if isinstance(n, ast.FunctionDef)}
    for name in ("Iterator", "inspect_state", "AUTOTUNE", "register_file_system", "read_file"):
        assert name in declared, name
