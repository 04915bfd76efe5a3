#!/usr/bin/env bash
# Creates .venv with the interop peers from tools/requirements-interop.txt. Re-runs are cheap: the venv is rebuilt
# only when the requirements file changed since it was last installed.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=tools/requirements-interop.txt
stamp=.venv/.requirements-installed

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    exit 0
fi

python=${PYTHON:-python3}
# Also rebuilt when an interrupted run left a venv without pip (python -m venv killed half-way).
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    "$python" -m venv --clear .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
