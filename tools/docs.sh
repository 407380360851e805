#!/usr/bin/env bash
# Builds the user guide (docs/, mkdocs.yml) to HTML in build/site/, warnings as errors: a broken
# link or anchor, a page missing from the navigation, an API entry that does not resolve.
#   bash tools/docs.sh          (after tools/install.sh: the API reference is read, without
#                                importing it, from the package installed in ./.venv)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pip install -q -r requirements-docs.txt
.venv/bin/mkdocs build --strict --config-file mkdocs.yml
echo "docs: build/site/index.html"
