"""The lock files pin what pyproject.toml declares, so `make`, CI and the container install the
versions the tests ran with. They fail after a dependency change until `make lock` is rerun."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from paths import REPO_ROOT

RUNTIME_LOCK = REPO_ROOT / "requirements.lock"
DEV_LOCK = REPO_ROOT / "requirements-dev.lock"


def declared(group: str) -> list[Requirement]:
    """`runtime`: [project] dependencies; otherwise that optional-dependencies extra."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = (
        project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    )
    return [Requirement(line) for line in lines]


def versions(lock_file) -> dict[str, set[str]]:
    """The versions each package is pinned at (`name==version ; marker` lines: a universal lock
    may pin one package at several versions, one per range of Pythons or platforms)."""
    by_name: dict[str, set[str]] = {}
    for line in lock_file.read_text(encoding="utf-8").splitlines():
        if not line or line[0] in "# ":
            continue  # comments and uv's "# via" annotations
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock_file.name}: {line!r} is not an exact pin"
        by_name.setdefault(canonicalize_name(requirement.name), set()).add(specifier.version)
    return by_name


@pytest.mark.parametrize(
    ("group", "lock_file"),
    [("runtime", RUNTIME_LOCK), ("runtime", DEV_LOCK), ("dev", DEV_LOCK)],
    ids=["runtime-in-runtime-lock", "runtime-in-dev-lock", "dev-in-dev-lock"],
)
def test_every_declared_dependency_is_pinned_within_its_bounds(group, lock_file):
    locked = versions(lock_file)
    for requirement in declared(group):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {lock_file.name}: run `make lock`"
        for version in locked[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock_file.name} pins {name}=={version} outside {requirement}: run `make lock`"
            )


def test_every_declared_dependency_has_an_upper_bound():
    for requirement in declared("runtime") + declared("dev"):
        assert any(spec.operator in ("<", "<=", "~=", "==") for spec in requirement.specifier), (
            f"{requirement} has no upper bound"
        )


def test_the_container_runs_the_versions_the_tests_ran():
    """Every runtime pin is the dev lock's pin (the platforms it applies to may differ: the dev
    tools can need a package on more Pythons); the container's lock has no test runner."""
    runtime, dev = versions(RUNTIME_LOCK), versions(DEV_LOCK)
    differing = {
        name: pinned for name, pinned in runtime.items() if not pinned <= dev.get(name, set())
    }
    assert not differing, f"pinned differently in {DEV_LOCK.name}: {differing}"
    assert "pytest" not in runtime


def test_the_container_installs_the_runtime_lock():
    """Read, since no Docker engine runs here: the dependency layer is the lock, then Costbot
    without resolving anything again."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY requirements.lock ./" in dockerfile
    assert "pip install -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    dockerignore = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "requirements.lock" not in dockerignore
