#!/usr/bin/env python3
"""Checks that the runtime stage of the Dockerfile provides every shared library a release `signer` binary needs.

    tools/check-runtime-libraries.py [--swift-runtime-linked-dynamically] <binary> [Dockerfile]

No Docker engine runs on the build machines, so this is what can be checked here: `ldd` lists the libraries the
binary loads, `dpkg -S` names the Debian package that provides each, and every such package must be installed by the
runtime stage's `apt-get install` or be part of debian:bookworm-slim itself. The Swift runtime must be linked in
statically (nothing from the toolchain's directories). Prints one line per library and exits 1 on any problem.

`--swift-runtime-linked-dynamically` checks a debug build, which loads the Swift runtime from the toolchain (debug
builds with tests cannot link it statically): those libraries are listed as `swift runtime` and every other library
is checked as for a release build. The C libraries a binary links do not depend on the build configuration."""

import pathlib
import re
import subprocess
import sys

# Packages debian:bookworm-slim ships (priority required, and apt's own dependencies), which a runtime stage need not
# install.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def runtime_packages(dockerfile: pathlib.Path) -> tuple[str, set[str]]:
    """The last stage's base image and the packages its `apt-get install` lines name."""
    stages = re.split(r"(?m)^FROM\s+", dockerfile.read_text())
    last = stages[-1]
    image = last.split()[0]
    # Join continued lines, then read every `apt-get install` command's package arguments.
    text = re.sub(r"\\\n", " ", last)
    packages = set()
    for command in re.findall(r"apt-get install([^&\n]*)", text):
        packages.update(word for word in command.split() if not word.startswith("-"))
    return image, packages


def needed_libraries(binary: pathlib.Path) -> list[tuple[str, str | None]]:
    """(soname, resolved path or None) for each library `ldd` lists."""
    output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libraries = []
    for line in output.splitlines():
        line = line.strip()
        if "=>" in line:
            name, target = (part.strip() for part in line.split("=>", 1))
            path = target.split(" (")[0].strip()
            libraries.append((name, None if path == "not found" else path))
        elif line.startswith("/"):
            path = line.split(" (")[0]
            libraries.append((pathlib.Path(path).name, path))
        # linux-vdso.so.1 has no file.
    return libraries


def owning_package(path: str) -> str | None:
    for candidate in (path, str(pathlib.Path(path).resolve())):
        found = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].strip()
        # Usr-merged systems: /lib/x86_64-linux-gnu/… is registered as /usr/lib/… or the reverse.
        alternative = candidate[4:] if candidate.startswith("/usr/") else "/usr" + candidate
        found = subprocess.run(["dpkg", "-S", alternative], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split(":", 1)[0].strip()
    return None


def main() -> int:
    arguments = sys.argv[1:]
    swift_runtime_dynamic = "--swift-runtime-linked-dynamically" in arguments
    arguments = [argument for argument in arguments if argument != "--swift-runtime-linked-dynamically"]
    binary = pathlib.Path(arguments[0])
    dockerfile = pathlib.Path(arguments[1] if len(arguments) > 1 else pathlib.Path(__file__).resolve().parents[1] / "Dockerfile")
    image, installed = runtime_packages(dockerfile)
    problems = []
    if image != "debian:bookworm-slim":
        problems.append(f"the runtime stage is {image}, expected debian:bookworm-slim")
    provided = installed | BASE_IMAGE_PACKAGES
    for name, path in needed_libraries(binary):
        if path is None:
            problems.append(f"{name}: not found on this machine")
            continue
        if "swift" in path.lower() and swift_runtime_dynamic:
            print(f"{name}: swift runtime")
            continue
        if "swift" in path.lower():
            problems.append(f"{name}: from the Swift toolchain ({path}); build with --static-swift-stdlib")
            continue
        package = owning_package(path)
        if package is None:
            problems.append(f"{name}: {path} belongs to no Debian package")
        elif package not in provided:
            problems.append(f"{name}: provided by {package}, which the runtime stage does not install")
        else:
            print(f"{name}: {package}")
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
