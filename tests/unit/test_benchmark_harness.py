"""The benchmark harness leaves the machine idle before each probe (benchmarks.harness.settle_seconds).

Nothing here is timed: the pause is read from the setting, and its place before the child
process is checked by recording the calls around a real probe's process.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from benchmarks import harness


def test_without_the_setting_each_probe_waits_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCHMARK_SETTLE_SECONDS", raising=False)
    assert harness.settle_seconds() == harness.DEFAULT_SETTLE_SECONDS > 0


@pytest.mark.parametrize(("configured", "expected"), [("0", 0.0), ("2.5", 2.5), ("10", 10.0)])
def test_the_setting_gives_the_pause(monkeypatch: pytest.MonkeyPatch, configured: str, expected: float) -> None:
    monkeypatch.setenv("BENCHMARK_SETTLE_SECONDS", configured)
    assert harness.settle_seconds() == expected


@pytest.mark.parametrize("configured", ["soon", "-1", "nan"])
def test_a_setting_that_is_not_a_pause_is_named_with_what_was_found(monkeypatch: pytest.MonkeyPatch,
                                                                    configured: str) -> None:
    monkeypatch.setenv("BENCHMARK_SETTLE_SECONDS", configured)
    with pytest.raises(ValueError, match=rf"BENCHMARK_SETTLE_SECONDS: expected a number of seconds >= 0, "
                                         rf"found '{configured}'"):
        harness.settle_seconds()


def test_a_probe_starts_its_process_only_after_the_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHMARK_SETTLE_SECONDS", "1.5")
    events: list[Any] = []
    real_run = subprocess.run

    def recorded_run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        events.append("process")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(harness.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    monkeypatch.setattr(harness.subprocess, "run", recorded_run)
    sample = harness.run_probe("import_library", {})

    assert events[:2] == [("sleep", 1.5), "process"]  # subprocess may sleep too, waiting for the child
    assert sample["seconds"] > 0
    assert sample["process_seconds"] >= sample["seconds"]
