"""The container packaging, checked without a Docker engine: the runtime stage provides every shared library the
release binary loads (`ldd`), the Swift runtime is linked in statically, and docker-compose.yml wires PostgreSQL,
Redis and two signer instances. `make test-packaging` builds the release binary and runs this file."""

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from conftest import REPOSITORY

CHECK = REPOSITORY / "tools" / "check-runtime-libraries.py"


@pytest.fixture(scope="module")
def release_binary() -> pathlib.Path:
    path = os.environ.get("SIGNER_RELEASE_BIN")
    if path is None:
        pytest.fail("SIGNER_RELEASE_BIN is not set: run this through `make test-packaging`")
    return pathlib.Path(path)


def check(binary: pathlib.Path, dockerfile: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), str(binary), str(dockerfile)], capture_output=True, text=True, timeout=120)


def test_the_runtime_stage_provides_every_library_the_release_binary_loads(release_binary):
    result = check(release_binary, REPOSITORY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "libsecp256k1.so.1: libsecp256k1-1" in lines
    assert not any("swift" in line.lower() for line in lines)


def test_the_check_refuses_a_runtime_stage_without_libsecp256k1(release_binary, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((REPOSITORY / "Dockerfile").read_text().replace("libsecp256k1-1 ", ""))
    result = check(release_binary, dockerfile)
    assert result.returncode == 1
    assert "problem: libsecp256k1.so.1: provided by libsecp256k1-1, which the runtime stage does not install" in result.stdout.splitlines()


def test_the_check_refuses_a_binary_with_the_swift_runtime_linked_dynamically(tmp_path):
    debug = REPOSITORY / ".build" / "debug" / "signer"
    if not debug.exists():
        pytest.fail("the debug build is missing: make test builds it first")
    result = check(debug, REPOSITORY / "Dockerfile")
    assert result.returncode == 1
    assert any(line.startswith("problem: libswiftCore.so: from the Swift toolchain") for line in result.stdout.splitlines())


def test_the_dockerfile_builds_statically_runs_as_its_own_user_and_checks_health():
    text = (REPOSITORY / "Dockerfile").read_text()
    assert "swift build -c release --product signer --static-swift-stdlib" in text
    assert "\nFROM debian:bookworm-slim\n" in text
    assert "\nUSER signer\n" in text
    assert 'CMD ["signer", "probe", "--url", "http://127.0.0.1:8080/health"]' in text
    assert 'ENTRYPOINT ["signer"]\nCMD ["serve"]' in text


def test_compose_runs_postgres_redis_and_two_instances_on_one_database_and_kek():
    compose = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "signer-1", "signer-2"}
    first, second = services["signer-1"], services["signer-2"]
    assert first["build"] == second["build"] == "."
    for instance in (first, second):
        assert instance["environment"]["SIGNER_DATABASE_URL"] == "postgres://signer:signer@postgres:5432/signer"
        assert instance["environment"]["SIGNER_KEK_PATH"] == "/run/signer-kek/kek"
        assert "kek:/run/signer-kek" in instance["volumes"]
    # One NIP-46 server until the cluster can give each bunker a single owner.
    assert second["environment"]["SIGNER_RELAYS"] == ""
    assert second["depends_on"] == {"signer-1": {"condition": "service_healthy"}}
