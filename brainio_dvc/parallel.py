"""A few I/O-bound tasks side by side, in threads that see the caller's context.

Cold loads download an assembly, its stimulus CSV and its ZIP, and extract the ZIP while the
netCDF file is read. (Loaders read an assembly's values beside the prepare of its coordinates
with :func:`brainio_dvc.formats.netcdf.read_while_preparing`, which hands the prepare its data.)
Each task waits on the network or the disk, or runs in C, and the GIL is released meanwhile.
Every thread runs in a copy of the caller's :mod:`contextvars` context, so that progress
subscribers and configuration overrides apply inside it as they do outside.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Background", "Batches", "awaited", "side_by_side"]

T = TypeVar("T")


def side_by_side(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """The results of ``tasks``, run at the same time: the first in the calling thread, each
    other one in a thread of its own.  The first task's error, in order, is raised once all of
    them have finished (none is left running)."""
    if len(tasks) <= 1:
        return [task() for task in tasks]
    first: list[T] = []
    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=len(tasks) - 1, thread_name_prefix="brainio-dvc") as pool:
        futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks[1:]]
        try:
            first.append(contextvars.copy_context().run(tasks[0]))
        except BaseException as error:  # noqa: BLE001 - raised once the others have finished
            first_error = error
    if first_error is not None:
        raise first_error
    return first + [future.result() for future in futures]


class Background(Generic[T]):
    """One task running in a thread; :meth:`result` waits for it and raises its error."""

    def __init__(self, task: Callable[[], T]) -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run, task), name="brainio-dvc", daemon=True)
        self._thread.start()

    def _run(self, task: Callable[[], T]) -> None:
        try:
            self._result = task()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            self._error = error

    def join(self) -> None:
        """Wait for the task to finish, without raising its error."""
        self._thread.join()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


@contextlib.contextmanager
def awaited(background: Background[T]) -> Iterator[Background[T]]:
    """Let ``background`` run while the block runs; at the end of the block, wait for it.

    Its error is raised after the block, unless the block failed itself: then the block's
    error goes on, once the task has finished.
    """
    try:
        yield background
    except BaseException:
        background.join()
        raise
    background.result()


class Batches(Generic[T]):
    """Items handed to one consumer in a thread, a batch at a time, while more are added.

    ``consume(batches)`` runs in a :class:`Background` thread, started by the first :meth:`add`;
    ``batches`` yields each time what was added since the previous batch, and ends once
    :meth:`close` was called and everything added before it was yielded.
    """

    def __init__(self, consume: Callable[[Iterator[list[T]]], object]) -> None:
        self._consume = consume
        self._pending: list[T] = []
        self._closed = False
        self._condition = threading.Condition()
        self._worker: Background[object] | None = None

    def add(self, item: T) -> None:
        with self._condition:
            self._pending.append(item)
            self._condition.notify()
            if self._worker is None:
                self._worker = Background(lambda: self._consume(self._batches()))

    def _batches(self) -> Iterator[list[T]]:
        while True:
            with self._condition:
                while not self._pending and not self._closed:
                    self._condition.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            yield batch

    def close(self, send: bool = True) -> BaseException | None:
        """Let the consumer take what was added (``send=False``: finish only the batch it has),
        wait for it, and return the error it raised, if any."""
        with self._condition:
            self._closed = True
            if not send:
                self._pending = []
            self._condition.notify()
            worker = self._worker
        if worker is None:
            return None
        try:
            worker.result()
        except BaseException as error:  # noqa: BLE001 - the caller decides whether it is raised
            return error
        return None
