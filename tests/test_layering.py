"""The architecture, checked on the imports.

The layers and where each library may be used are import-linter contracts in pyproject.toml
(`lint-imports`, also run by `make lint`); this module runs them under pytest too, and checks
what a package-level contract cannot: that each pure module imports no I/O library at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Pure: no I/O library at all (the whole of bot.core, and these beside it).
PURE = {str(p.relative_to(ROOT)) for p in (ROOT / "bot" / "core").glob("*.py")} | {
    "bot/wire/payload.py",
    "workers/alerts/messages.py",
    "workers/slack/render.py",
    "bot/web/home.py",
    "bot/wire/sealed.py",
    "workers/docker/privileges.py",
    "bot/wire/signing.py",
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_do_no_io(module: str) -> None:
    """The grammar, commands, policy rules, job payloads and rendering import no I/O library."""
    io_libs = {"docker", "slack_bolt", "slack_sdk", "rq", "redis", "starlette", "httpx", "requests", "socket"}
    assert not imports(ROOT / module) & io_libs


def test_import_contracts_hold() -> None:
    """Layers, workers on bot.core/bot.wire only, no cycles, libraries at their edge (pyproject.toml)."""
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
