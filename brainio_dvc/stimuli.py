"""Stimulus sets: a :class:`pandas.DataFrame` of metadata plus the local paths of the stimuli.

BrainIO's ``brainio.stimuli`` module, kept name for name.  A stimulus set is a CSV (one row per
stimulus, with at least ``stimulus_id`` and ``filename``) and a directory of stimulus files.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .contribute.validation import check_stimulus_csv_columns
from .exceptions import UnknownClassError, ValidationError
from .formats.describe import metadata_attribute, metadata_attributes

__all__ = [
    "STIMULUS_SET_CLASSES",
    "StimulusPaths",
    "StimulusSet",
    "StimulusSetLoader",
    "read_stimulus_csv",
    "resolve_stimulus_set_class",
]

logger = logging.getLogger(__name__)

#: Columns read as strings and never turned into NA, so that ids such as ``0012`` or ``NA``
#: keep their exact spelling.
_TEXT_COLUMNS = ("stimulus_id", "image_id", "filename")

#: Id columns that load as integers when every id is one (see :func:`_are_canonical_integers`).
_ID_COLUMNS = ("stimulus_id", "image_id")
_CANONICAL_INTEGER = r"-?[1-9][0-9]{0,17}|0"
_CANONICAL_INTEGER_PATTERN = re.compile(_CANONICAL_INTEGER)

#: pandas' documented default NA spellings, applied to every other column.  Spelled out here
#: because :func:`pandas.read_csv` can only switch the defaults off for all columns at once.
_DEFAULT_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip

#: The column pandas adds when a frame was written with its index and read back.
_AUTO_INDEX_COLUMN = "Unnamed: 0"


class StimulusSet(pd.DataFrame):
    """Stimulus metadata, one row per stimulus, with the stimuli's local paths.

    ``identifier`` is the stimulus set's name in its catalog (``None`` for a proto stimulus set
    that is not packaged yet); ``stimulus_paths`` maps each ``stimulus_id`` to a local path.
    Both survive row selection, ``copy()`` and ``pd.concat`` of stimulus sets.  Provenance
    belongs in ``attrs``, which pandas propagates itself.
    """

    _metadata = ["identifier", "stimulus_paths"]
    identifier: str | None
    _paths: dict[str, Path] | None = None

    def __init__(
        self,
        data: Any = None,
        *args: Any,
        identifier: str | None = None,
        stimulus_paths: Mapping[str, str | os.PathLike[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        # pandas-stubs gives DataFrame a __new__ and no __init__, so mypy would check object's.
        super().__init__(data, *args, **kwargs)  # type: ignore[call-arg]
        if identifier is None or stimulus_paths is None:
            carried_identifier, carried_paths = metadata_attributes(data, ("identifier", "stimulus_paths"))
            identifier = carried_identifier if identifier is None else identifier
            stimulus_paths = carried_paths if stimulus_paths is None else stimulus_paths
        object.__setattr__(self, "identifier", identifier)
        if not isinstance(stimulus_paths, StimulusPaths):  # a loaded set's stays lazy, shared
            stimulus_paths = _as_paths(stimulus_paths or {})
        object.__setattr__(self, "stimulus_paths", stimulus_paths)

    @property
    def _constructor(self) -> type[StimulusSet]:
        return type(self)

    @property
    def stimulus_paths(self) -> dict[str, Path] | None:
        """Local path of each stimulus, by ``stimulus_id`` (None on a frame pandas built without
        ``__init__`` and nothing carried over).  A loaded set's is a :class:`StimulusPaths`,
        whose files are there as soon as anything is read from it."""
        return self._paths

    @stimulus_paths.setter
    def stimulus_paths(self, paths: dict[str, Path] | None) -> None:
        object.__setattr__(self, "_paths", paths)

    def _set_paths_in(
        self, directory: Path, ids: list[str], filenames: list[str], prepare: Callable[[], object] | None = None
    ) -> None:
        """Paths ``directory / filename`` of each stimulus id, built when first asked for, after
        ``prepare()`` (which puts the files there) when given."""
        object.__setattr__(self, "_paths", StimulusPaths(directory, ids, filenames, prepare))

    def __finalize__(self, other: Any, method: str | None = None, **kwargs: Any) -> StimulusSet:
        """Carry ``identifier`` and ``stimulus_paths`` over from ``other``.

        ``copy`` gets its own ``stimulus_paths`` dict; other operations share it, as in BrainIO.
        ``concat`` takes the union of the inputs' paths and keeps the identifier only when all
        inputs agree on it.  ``merge`` keeps the left frame's.
        """
        # NDFrame.__finalize__ is pandas' hook for subclasses; pandas-stubs leaves it out.
        result = super().__finalize__(other, method=method, **kwargs)  # type: ignore[misc]
        if method == "concat":
            inputs = getattr(other, "objs", None) or getattr(other, "input_objs", None) or ()
            result._adopt_concatenated(list(inputs))
        elif method == "merge" and isinstance(getattr(other, "left", None), StimulusSet):
            object.__setattr__(result, "identifier", other.left.identifier)
            object.__setattr__(result, "stimulus_paths", other.left.stimulus_paths)
        elif method == "copy" and isinstance(paths := metadata_attribute(result, "stimulus_paths"), dict):
            object.__setattr__(result, "stimulus_paths", paths.copy())  # a StimulusPaths' copy stays lazy
        return result

    def _adopt_concatenated(self, inputs: list[Any]) -> None:
        identifiers = {metadata_attribute(frame, "identifier") for frame in inputs}
        identifier = identifiers.pop() if len(identifiers) == 1 else None
        object.__setattr__(self, "identifier", identifier)
        object.__setattr__(self, "stimulus_paths", _union_of_paths(inputs))

    def get_stimulus(self, stimulus_id: str) -> Path:
        """The local path of the stimulus ``stimulus_id``; a :class:`KeyError` if unknown."""
        try:
            return (self.stimulus_paths or {})[stimulus_id]
        except (KeyError, TypeError):
            name = f"{self.identifier!r}" if self.identifier else "(no identifier)"
            msg = (
                f"stimulus_id {stimulus_id!r} is not in stimulus set {name}, "
                f"which has {len(self.stimulus_paths or {})} stimulus paths"
            )
            raise KeyError(msg) from None

    @classmethod
    def get_loader_class(cls) -> type[StimulusSetLoader]:
        """The loader that :meth:`from_files` uses; subclasses may return their own."""
        return StimulusSetLoader

    @classmethod
    def from_files(
        cls, csv_path: str | os.PathLike[str], dir_path: str | os.PathLike[str]
    ) -> StimulusSet:
        """Load the stimulus set described by ``csv_path`` with its stimuli in ``dir_path``."""
        loader = cls.get_loader_class()(csv_path=csv_path, stimuli_directory=dir_path, cls=cls)
        return loader.load()


class StimulusPaths(dict[Any, Path]):
    """The ``stimulus_paths`` of a loaded stimulus set: a dict of ``stimulus_id`` -> Path whose
    entries, and the files they name, appear on first use.

    A cold load checks the stimulus ZIP (its md5, every member's name and CRC-32, every CSV
    filename among its members) but does not extract it; ``prepare`` does, once, when anything
    is first read from this dict: an item, ``in``, ``len``, iteration, ``keys``/``values``/
    ``items``, comparison, ``copy``, pickling.  So every path handed out names a file that is
    there.  Building thousands of Paths also takes longer than reading the CSV, so it waits too.
    Selections and other frames pandas derives from the stimulus set share this dict, as they
    share a plain one; ``copy()`` gives a dict of its own (still lazy).  It pickles as a plain
    dict.  Safe to use from several threads: the first use extracts, the others wait for it.
    """

    def __init__(
        self, directory: Path, ids: list[Any], filenames: list[str], prepare: Callable[[], object] | None = None,
        source: StimulusPaths | None = None,
    ) -> None:
        super().__init__()
        self._pending: tuple[Path, list[Any], list[str], Callable[[], object] | None, StimulusPaths | None] | None
        self._pending = (directory, ids, filenames, prepare, source)
        self._lock = threading.Lock()

    def _resolve(self) -> None:
        if self._pending is None:
            return
        with self._lock:
            pending = self._pending
            if pending is None:
                return
            directory, ids, filenames, prepare, source = pending
            if source is not None:  # a copy: the original's entries, in a dict of its own
                dict.update(self, source.resolved())
            else:
                if prepare is not None:
                    prepare()  # raises if the files cannot be put there; the next use tries again
                dict.update(self, zip(ids, map(directory.joinpath, filenames), strict=True))
            self._pending = None

    def resolved(self) -> dict[Any, Path]:
        """This dict, with its entries (and their files) there."""
        self._resolve()
        return self

    def prepare_with(self, prepare: Callable[[], object]) -> bool:
        """Have ``prepare()`` put the files there before first use; False if it was used already."""
        with self._lock:
            if self._pending is None or self._pending[4] is not None:
                return False
            directory, ids, filenames, _, _ = self._pending
            self._pending = (directory, ids, filenames, prepare, None)
            return True

    def copy(self) -> dict[Any, Path]:
        if self._pending is None:
            return dict(self)
        return StimulusPaths(Path(), [], [], source=self)

    def __eq__(self, other: object) -> bool:  # dict's own comparison reads the other's entries directly
        return dict.__eq__(self.resolved(), other.resolved() if isinstance(other, StimulusPaths) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # as dict's

    def __reduce_ex__(self, protocol: Any) -> Any:  # pickles (and deep-copies) as a plain dict
        return (dict, (dict(self.resolved()),))

    def __repr__(self) -> str:
        return dict.__repr__(self.resolved())


def _resolving(name: str) -> Callable[..., Any]:
    method = getattr(dict, name)

    def resolving(self: StimulusPaths, *args: Any, **kwargs: Any) -> Any:
        self._resolve()
        return method(self, *args, **kwargs)

    resolving.__name__ = resolving.__qualname__ = name
    resolving.__doc__ = method.__doc__
    return resolving


# Every way of reading or changing a dict resolves it first (dunders included: assigning them to
# the class also sets the slots that C code, such as dict(paths) or {**paths}, goes through).
for _name in ("__getitem__", "__contains__", "__iter__", "__len__", "__or__", "__ror__",
              "__ior__", "__reversed__", "__setitem__", "__delitem__", "keys", "values", "items", "get", "pop",
              "popitem", "setdefault", "update", "clear"):
    setattr(StimulusPaths, _name, _resolving(_name))
del _name


def _as_paths(paths: Mapping[str, str | os.PathLike[str]]) -> dict[str, Path]:
    """A new dict of ``paths`` with every value a :class:`~pathlib.Path`."""
    return {key: value if isinstance(value, Path) else Path(value) for key, value in paths.items()}


def _union_of_paths(frames: Iterable[Any]) -> dict[Any, Any]:
    """Every frame's ``stimulus_paths`` in one dict; the first frame wins on conflicts."""
    union: dict[Any, Any] = {}
    conflicts = 0
    for frame in frames:
        paths = metadata_attribute(frame, "stimulus_paths") or {}
        if not union:
            union.update(paths)
            continue
        for stimulus_id, path in paths.items():
            known = union.setdefault(stimulus_id, path)
            if known is not path and known != path:
                conflicts += 1
    if conflicts:
        logger.warning(
            "concatenated stimulus sets give %d stimulus ids different paths; "
            "kept the path of the first stimulus set",
            conflicts,
        )
    return union


class StimulusSetLoader:
    """Loads a stimulus set from its metadata CSV and the directory of its stimuli.

    Legacy CSVs with ``image_id`` but no ``stimulus_id`` get ``stimulus_id`` copied from
    ``image_id``.  Paths are joined, not checked: loading never touches the stimulus files.
    """

    def __init__(
        self,
        csv_path: str | os.PathLike[str],
        stimuli_directory: str | os.PathLike[str],
        cls: type[StimulusSet] = StimulusSet,
    ) -> None:
        self.csv_path = Path(csv_path)
        self.stimuli_directory = Path(stimuli_directory)
        self.stimulus_set_class = cls

    def load(self) -> StimulusSet:
        """Read the CSV, check it, and attach ``stimulus_paths``."""
        frame = read_stimulus_csv(self.csv_path)
        self.correct_stimulus_id_name(frame)
        check_stimulus_csv_columns(frame, self.csv_path, required=("stimulus_id", "filename"))
        stimulus_set = self.stimulus_set_class(frame)
        stimulus_set._set_paths_in(self.stimuli_directory, frame["stimulus_id"].tolist(), frame["filename"].tolist())
        logger.debug("loaded %d stimuli from %s", len(stimulus_set), self.csv_path)
        return stimulus_set

    @staticmethod
    def correct_stimulus_id_name(stimulus_set: pd.DataFrame) -> None:
        """Copy a legacy ``image_id`` column to ``stimulus_id`` (in place) if that is missing."""
        if "image_id" in stimulus_set.columns and "stimulus_id" not in stimulus_set.columns:
            stimulus_set["stimulus_id"] = stimulus_set["image_id"]


def read_stimulus_csv(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a stimulus metadata CSV into a plain DataFrame.

    ``stimulus_id``, ``image_id`` and ``filename`` are read as strings, verbatim; the other
    columns get pandas' usual type inference and NA spellings.  pandas' auto index column
    (``Unnamed: 0``) is dropped.  A file pandas cannot parse raises :class:`ValidationError`;
    a file that cannot be opened raises :class:`OSError`.
    """
    frame = _read_csv(csv_path, dtype=dict.fromkeys(_TEXT_COLUMNS, str))
    if any(frame[column].isna().any() for column in _TEXT_COLUMNS if column in frame.columns):
        # An id spelled like NA (or empty): read again, with NA spellings for the other columns only.
        frame = _read_csv(
            csv_path,
            dtype=dict.fromkeys(_TEXT_COLUMNS, str),
            keep_default_na=False,
            na_values={column: list(_DEFAULT_NA_VALUES) for column in frame.columns if column not in _TEXT_COLUMNS},
        )
    if _AUTO_INDEX_COLUMN in frame.columns:
        frame = frame.drop(columns=_AUTO_INDEX_COLUMN)
    for column in _ID_COLUMNS:
        if column in frame.columns and _are_canonical_integers(frame[column]):
            frame[column] = frame[column].astype("int64")
    return frame


def _are_canonical_integers(values: pd.Series) -> bool:
    """Whether every value is an integer in its one canonical spelling (``12``, not ``012``).

    Such ids load as integers, as pandas' inference gave them to BrainIO, so that they match
    the integer ids of the assemblies packaged with them; any other spelling stays text.
    """
    if len(values) == 0 or not _CANONICAL_INTEGER_PATTERN.fullmatch(str(values.iloc[0])):
        return False  # the usual case, text ids: no need to look at the others
    return bool(values.str.fullmatch(_CANONICAL_INTEGER).all())


def _read_csv(csv_path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """:func:`pandas.read_csv`, with parse failures turned into :class:`ValidationError`."""
    try:
        return pd.read_csv(csv_path, **kwargs)
    except pd.errors.EmptyDataError as error:
        raise ValidationError(
            subject=os.fspath(csv_path), expected="a CSV with a header row", found="an empty file"
        ) from error
    # ParserError, UnicodeDecodeError and dtype conversion errors are all ValueErrors.
    except (ValueError, OverflowError) as error:
        raise ValidationError(
            subject=os.fspath(csv_path),
            expected="a UTF-8 CSV file with a header row",
            found=f"content pandas cannot parse ({type(error).__name__}: {error})",
        ) from error


#: Stimulus set classes by the name a catalog's ``class`` column gives them.  Resolving a name
#: through this dict, never through ``eval`` or ``getattr`` on a module, keeps catalogs from
#: naming arbitrary objects.
STIMULUS_SET_CLASSES: dict[str, type[StimulusSet]] = {"StimulusSet": StimulusSet}


def resolve_stimulus_set_class(name: str) -> type[StimulusSet]:
    """The stimulus set class of a catalog's ``class`` column; only known classes resolve
    (:data:`STIMULUS_SET_CLASSES`), else :class:`~brainio_dvc.exceptions.UnknownClassError`."""
    if name not in STIMULUS_SET_CLASSES:
        raise UnknownClassError(name, "stimulus set", sorted(STIMULUS_SET_CLASSES))
    return STIMULUS_SET_CLASSES[name]
