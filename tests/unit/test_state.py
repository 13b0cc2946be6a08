"""In-process state (brainio_dvc.store.state): every memo is bounded, and refresh() forgets all."""

from __future__ import annotations

from brainio_dvc import lookup
from brainio_dvc.store import state
from brainio_dvc.store.registry import open_registry


def _url(number: int) -> str:
    return f"https://example.org/registry-{number}.git"  # never cloned: nothing is read from it


def test_an_opened_registry_is_remembered_until_refresh() -> None:
    first = open_registry(_url(0))
    assert open_registry(_url(0)) is first
    lookup.refresh()
    assert open_registry(_url(0)) is not first


def test_the_least_recently_used_registry_is_opened_again_past_the_bound() -> None:
    lookup.refresh()
    opened = [open_registry(_url(number)) for number in range(state.REGISTRIES.size + 1)]
    assert open_registry(_url(state.REGISTRIES.size)) is opened[-1]  # the newest is kept
    assert open_registry(_url(0)) is not opened[0]  # the oldest was dropped, and is opened anew


def test_a_memo_drops_the_entry_used_longest_ago() -> None:
    memo: state.Memo[str, int] = state.Memo("test", 2)
    memo["a"], memo["b"] = 1, 2
    assert memo.get("a") == 1  # now the most recently used
    memo["c"] = 3
    assert memo.get("b") is None
    assert (memo.get("a"), memo.get("c")) == (1, 3)
    assert memo.get_or_make("d", lambda: 4) == 4 and len(memo) == 2
