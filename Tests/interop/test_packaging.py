"""The container packaging, checked without a Docker engine: the runtime stage provides every shared library the
binary loads (`ldd` of the debug build here; `test_packaging_release.py` checks a release build as the Dockerfile
makes it), and docker-compose.yml wires PostgreSQL, Redis and two signer instances."""

import pathlib
import subprocess
import sys

import pytest
import yaml

from conftest import REPOSITORY

CHECK = REPOSITORY / "tools" / "check-runtime-libraries.py"


def check(binary: pathlib.Path, dockerfile: pathlib.Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECK), *options, str(binary), str(dockerfile)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def debug_binary(signer) -> pathlib.Path:
    return signer.path


def test_the_runtime_stage_provides_every_c_library_the_binary_loads(debug_binary):
    result = check(debug_binary, REPOSITORY / "Dockerfile", "--swift-runtime-linked-dynamically")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "libsecp256k1.so.1: libsecp256k1-1" in lines
    assert "libhiredis.so.0.14: libhiredis0.14" in lines
    assert "libc.so.6: libc6" in lines
    assert "libswiftCore.so: swift runtime" in lines


def test_the_check_refuses_a_runtime_stage_without_libsecp256k1(debug_binary, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((REPOSITORY / "Dockerfile").read_text().replace("libsecp256k1-1 ", ""))
    result = check(debug_binary, dockerfile, "--swift-runtime-linked-dynamically")
    assert result.returncode == 1
    assert "problem: libsecp256k1.so.1: provided by libsecp256k1-1, which the runtime stage does not install" in result.stdout.splitlines()


def test_the_check_refuses_a_swift_runtime_linked_dynamically_unless_told(debug_binary):
    result = check(debug_binary, REPOSITORY / "Dockerfile")
    assert result.returncode == 1
    assert "problem: libswiftCore.so: from the Swift toolchain" in "\n".join(result.stdout.splitlines())


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
    # Both serve NIP-46 on the same relays, as one cluster: the ring in Redis gives each bunker one owner.
    for instance in (first, second):
        assert instance["environment"]["SIGNER_RELAYS"] == "${SIGNER_RELAYS:-}"
        assert instance["environment"]["SIGNER_REDIS_URL"] == "redis://redis:6379/0"
    assert first["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert second["depends_on"] == {"signer-1": {"condition": "service_healthy"}}
