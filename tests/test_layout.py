"""The layout the project relies on: data flows one way, and the core never reaches back up
into the Slack listeners or the scheduled jobs.

sources -> store -> analytics -> render -> answers -> handlers/jobs -> delivery -> Slack.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from paths import REPO_ROOT

BOT = REPO_ROOT / "bot"
# Sub-packages of bot/ and what each may import from its siblings. The shared small modules
# (config, money, periods, errors, context) may be imported by anyone.
ALLOWED = {
    "store": set(),
    "sources": {"store"},
    "analytics": {"store"},
    "render": {"store", "analytics"},
    "answers": {"store", "analytics", "render"},
    "slack": {"store", "analytics", "render"},
    # Changes to cloud resources: AWS through the sources' sessions; what the ladder decided
    # (analytics) is carried out and recorded (store) here, for the job and the buttons alike.
    "cloud": {"sources", "store", "analytics"},
}
SHARED = {"config", "money", "periods", "errors", "context"}
# The entry points wire everything together: they may import handlers and jobs.
ENTRY_POINTS = {BOT / "cli.py", BOT / "demo.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


CORE_MODULES = sorted(p for p in BOT.rglob("*.py") if p not in ENTRY_POINTS)


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_core_never_imports_handlers_or_jobs(path: Path) -> None:
    reaching_up = {
        name for name in imported_modules(path) if name.split(".")[0] in ("handlers", "jobs")
    }
    assert not reaching_up, f"{path.relative_to(REPO_ROOT)} imports {sorted(reaching_up)}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_role_imports_only_what_comes_before_it_in_the_flow(package: str) -> None:
    offending = []
    for path in sorted((BOT / package).rglob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "bot" or len(parts) < 2 or parts[1] in SHARED:
                continue
            sibling = parts[1]
            if sibling in ALLOWED and sibling != package and sibling not in ALLOWED[package]:
                offending.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert not offending, "\n".join(sorted(set(offending)))


def test_every_handler_package_registers_its_listeners() -> None:
    import handlers

    kinds = [p for p in (REPO_ROOT / "handlers").iterdir() if (p / "__init__.py").exists()]
    assert kinds, "handlers/ has no listener packages"
    for kind in kinds:
        module = __import__(f"handlers.{kind.name}", fromlist=["register"])
        assert callable(getattr(module, "register", None)), f"handlers/{kind.name} has no register"
    assert callable(handlers.register_all)
