"""A release build as the Dockerfile makes it (Swift runtime linked statically): every library it loads is provided
by the runtime stage and none comes from the Swift toolchain. `make test-packaging-release` builds it and runs this
file; CI runs it after `make test` (a release build of every dependency takes 12-14 minutes on 2 cores)."""

import os
import pathlib
import subprocess
import sys

import pytest

from conftest import REPOSITORY


@pytest.fixture(scope="module")
def release_binary() -> pathlib.Path:
    path = os.environ.get("SIGNER_RELEASE_BIN")
    if path is None:
        pytest.fail("SIGNER_RELEASE_BIN is not set: run this through `make test-packaging-release`")
    return pathlib.Path(path)


def test_the_runtime_stage_provides_every_library_the_release_binary_loads(release_binary):
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "tools" / "check-runtime-libraries.py"), str(release_binary), str(REPOSITORY / "Dockerfile")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "libsecp256k1.so.1: libsecp256k1-1" in lines
    assert "libhiredis.so.0.14: libhiredis0.14" in lines
    assert not any("swift" in line.lower() for line in lines)
