"""Progress of long work (downloads, uploads, ZIPs, netCDF writes), reported as events.

The library only reports; whoever wants to show progress subscribes a callback for the duration
of a block (the CLI does so when stderr is a terminal)::

    with progress.subscribe(print):
        brainio_dvc.get_assembly("dicarlo.MajajHong2015.public")
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["ProgressCallback", "ProgressEvent", "report", "subscribe", "tracker"]


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units (bytes or files) of one task; ``total`` None when unknown."""

    task: str  # "download", "upload", "unzip", "zip", "write"
    description: str
    done: int
    total: int | None
    unit: str = "B"

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


ProgressCallback = Callable[[ProgressEvent], None]
_subscribers: contextvars.ContextVar[tuple[ProgressCallback, ...]] = contextvars.ContextVar("progress", default=())


@contextlib.contextmanager
def subscribe(callback: ProgressCallback) -> Iterator[None]:
    """Receive every progress event reported inside the ``with`` block."""
    token = _subscribers.set((*_subscribers.get(), callback))
    try:
        yield
    finally:
        _subscribers.reset(token)


def report(event: ProgressEvent) -> None:
    """Hand an event to every subscriber (cheap when there is none)."""
    for callback in _subscribers.get():
        callback(event)


class tracker:
    """Reports the start, each ``advance(n)`` and the end of one task."""

    def __init__(self, task: str, description: str, total: int | None, unit: str = "B") -> None:
        self.task, self.description, self.total, self.unit = task, description, total, unit
        self.done = 0

    def __enter__(self) -> Callable[[int], None]:
        self._emit()
        return self.advance

    def advance(self, amount: int) -> None:
        self.done += amount
        if _subscribers.get():
            self._emit()

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None and self.total is not None and self.done < self.total:
            self.done = self.total
            self._emit()

    def _emit(self) -> None:
        report(ProgressEvent(self.task, self.description, self.done, self.total, self.unit))
