"""parallel: Batches hands what is added to the consumer, in order, a batch at a time;
side_by_side runs its first task in the calling thread and waits for all before it raises."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from brainio_dvc.parallel import Batches, side_by_side


def test_every_item_added_before_close_is_consumed_in_order() -> None:
    consumed: list[list[int]] = []
    first_taken = threading.Event()
    release = threading.Event()

    def consume(batches: Iterator[list[int]]) -> None:
        for batch in batches:
            consumed.append(batch)
            first_taken.set()
            release.wait(5)

    batches: Batches[int] = Batches(consume)
    batches.add(1)
    first_taken.wait(5)
    batches.add(2)
    batches.add(3)  # added while the consumer is busy: one batch
    release.set()
    assert batches.close() is None
    assert consumed == [[1], [2, 3]]


def test_close_without_send_drops_what_is_queued_and_returns_the_consumers_error() -> None:
    started = threading.Event()
    release = threading.Event()

    def consume(batches: Iterator[list[str]]) -> None:
        for batch in batches:
            started.set()
            release.wait(5)
            msg = f"could not send {batch}"
            raise ValueError(msg)

    batches: Batches[str] = Batches(consume)
    batches.add("a")
    started.wait(5)
    batches.add("b")
    release.set()
    error = batches.close(send=False)
    assert isinstance(error, ValueError) and str(error) == "could not send ['a']"


def test_close_of_nothing_added_starts_no_thread() -> None:
    before = threading.active_count()
    assert Batches(lambda batches: list(batches)).close() is None
    assert threading.active_count() == before


def test_side_by_side_runs_the_first_task_here_and_raises_its_error_once_the_others_finished() -> None:
    release = threading.Event()
    finished: list[str] = []

    def first() -> str:
        release.set()
        message = "first failed"
        raise ValueError(message)

    def second() -> str:
        release.wait(5)
        finished.append(threading.current_thread().name)
        return "second"

    with pytest.raises(ValueError, match="first failed"):
        side_by_side([first, second])
    assert finished and finished[0] != threading.current_thread().name  # the other task ran elsewhere, to its end
    assert side_by_side([lambda: threading.current_thread(), lambda: threading.current_thread()])[0] is (
        threading.current_thread())
