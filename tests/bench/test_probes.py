"""The benchmark's probes still fit the code they measure: every module imports, and the hot-path steps
``bench.probes.phases`` wraps to time exist as coroutine functions (a step renamed or moved would make
the probe fail before measuring anything)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import bench.probes
from bench.probes.phases import timed_steps

PROBES = sorted(module.name for module in pkgutil.iter_modules(bench.probes.__path__))


@pytest.mark.parametrize("name", PROBES)
def test_every_probe_imports(name):
    importlib.import_module(f"bench.probes.{name}")


def test_the_steps_phases_times_are_coroutine_functions():
    steps = timed_steps()
    assert len(steps) == 8
    for owner, name in steps:
        assert inspect.iscoroutinefunction(getattr(owner, name)), f"{owner}.{name}"
