"""The coding agents and the Node SDK, installed by scripts/agents under tools/agents (pinned)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

AGENTS = Path(__file__).resolve().parents[2] / "tools" / "agents"
NODE_MODULES = AGENTS / "node_modules"


def agent_binary(name: str) -> Path:
    """The path of a pinned CLI; the test fails (never skips) when it is not installed."""
    path = NODE_MODULES / ".bin" / name
    if not path.exists():
        pytest.fail(f"{name} not found in {NODE_MODULES}: run scripts/agents (npm ci in tools/agents)")
    return path


def agent_run(
    args: list[str], *, env: dict[str, str], cwd: Path, timeout_s: float = 60.0
) -> subprocess.CompletedProcess:
    """Run an agent headless with only ``env`` (plus PATH): its own HOME, no inherited credentials."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "NO_COLOR": "1", "CI": "1"}
    return subprocess.run(
        args, env=base | env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
    )
