#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the build and the test tiers need, skipping those already present.
# Runs as root, or through sudo when it is available. Safe to run repeatedly.
set -euo pipefail

# What each package is for:
#   libsecp256k1-dev  BIP-340 signing, verification and ECDH (CSecp256k1 system-library target)
#   pkg-config        lets SwiftPM find libsecp256k1's flags
#   python3-venv      the interop tier's virtual environment (.venv)
#   gcc               builds the plain-C libsecp256k1 benchmark in tools/bench/
#   postgresql        the PostgreSQL store's tests start a private server on loopback (tools/test-services.sh)
#   prometheus        promtool, which checks the daemon's /api/metrics output in the tests (the server is not started)
#   wrk               the HTTP benchmark (make bench-http)
#   libhiredis-dev    the Redis protocol for cluster membership and broadcast (CHiredis system-library target)
#   redis-server      the cluster tests start private Redis servers on loopback
packages=(libsecp256k1-dev pkg-config python3-venv gcc postgresql prometheus wrk libhiredis-dev redis-server)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-system-deps: missing packages (${missing[*]}) and neither root nor sudo is available" >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
