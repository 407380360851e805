"""The installed package describes itself: its version is the one pyproject.toml declares, in
Python's metadata and in the engine alike."""

import importlib.metadata
import os
import re

import inputpipe

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def _declared_version():
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        match = re.search(r'^version = "([0-9.]+)"', f.read(), re.M)
    assert match is not None, "pyproject.toml has no version"
    return match.group(1)


def test_version_is_pyprojects_in_the_engine_and_the_metadata():
    assert inputpipe.__version__ == _declared_version()
    assert importlib.metadata.version("inputpipe") == inputpipe.__version__


def test_metadata_names_license_and_extras():
    meta = importlib.metadata.metadata("inputpipe")
    assert meta["License-Expression"] == "Apache-2.0"
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"test", "torch", "docs", "remote"} <= extras
