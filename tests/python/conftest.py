"""pytest configuration for the Python suite, which runs against the *installed* package
(`pip install .`): python/inputpipe holds no compiled _core, so importing it from the source
tree would fail, and testing the installed wheel is what users get."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# pipelines.py (module-level factories for fresh-process restores) is imported by tests and by
# the child processes of inputpipe.testing, which inherit sys.path.
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def pytest_report_header(config):
    import inputpipe

    return f"inputpipe from {os.path.dirname(inputpipe.__file__)}"


@pytest.fixture
def tmp_state_file(tmp_path):
    """A path for a saved state file."""
    return tmp_path / "state.bin"
