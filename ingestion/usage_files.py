"""The usage ledger: which bytes of which event file are already in `raw`, and what is next.

A daily file can grow after a run saw it (the collector still appending) or be rewritten by
its producer. So the ledger, kept in dlt resource state, remembers per file the bytes loaded
(a prefix of the file), a SHA-256 of those bytes, and the size and mtime last seen:

- size and mtime unchanged: the file is not opened (a run over years of files hashes nothing);
- it grew and still starts with the loaded bytes (same hash): only the new bytes are loaded;
- it shrank, or its loaded prefix hashes differently: it was *rewritten*, and all of it lands
  again (raw keeps what the source sent; staging keeps the first delivery of an event id);
- same bytes under a new mtime (touched): the ledger takes the new mtime, nothing loads.

A rewrite that keeps both size and mtime is not seen (nothing is hashed then); writers that
rewrite a file set its mtime, so this is the price of not hashing gigabytes every run.

A last line without a trailing newline may be a line still being written. It is loaded when it
is already a whole JSON object (nothing can follow `}` on the same line); otherwise it is held
back and the ledger stops before it, so a run never loads half a line and then the other half
as a second, broken row. If the file is still unchanged at the next run, its writer has stopped
and the held-back bytes land as they are (a bad line keeps its text): nothing is lost, only
delayed by one run. (DuckDB cannot stop before a byte, so such a file goes to the line parser.)

A gzip file (`events.jsonl.gz`, how exports usually arrive) is a unit: its bytes are the
compressed bytes, it is loaded whole, and any change to them (a rewrite, or gzip members
appended to it) lands all of its lines again as rewritten; staging keeps the first delivery
of each event id, as for any rewritten file. Same bytes under a new mtime are a touch, as
above. A gzip file that does not decompress to its end (still being written, or cut short)
is not loaded and not recorded: it is tried again every run until it is whole.

The ledger of earlier versions was a list of file names (`loaded_files`); a listed file is
taken as loaded whole at its size when this version first sees it (hashed once, not reloaded);
a listed name with no file stays listed until its file appears.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

NEW = "new"
APPENDED = "appended"
REWRITTEN = "rewritten"

FILES = "files"  # state key: {source_file: Mark as a dict}
LEGACY = "loaded_files"  # state key of the old ledger: [source_file, ...]
DELIMITER = b"\x01"  # the DuckDB reader's column delimiter; a file holding it reads in Python
_CHUNK = 1 << 20
_LONGEST_TAIL = 1 << 20  # an unterminated last line longer than this goes to the line parser


GZIP_SUFFIX = ".gz"


class UnfinishedGzip(ValueError):
    """A gzip file that does not decompress to its end (cut short or still being written)."""


def source_name(path: Path) -> str:
    """The ledger key and `_source_file` value of a file: `dt=YYYY-MM-DD/events.jsonl`
    (or `events.jsonl.gz`)."""
    return f"{path.parent.name}/{path.name}"


def is_gzip(path: Path) -> bool:
    """True for a gzip-compressed event file (`.jsonl.gz`)."""
    return path.name.endswith(GZIP_SUFFIX)


def decompress(data: bytes, name: str) -> bytes:
    """All members of a gzip file's bytes; `UnfinishedGzip` when they stop short."""
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise UnfinishedGzip(f"{name} is not a whole gzip file ({exc})") from exc


@dataclass(frozen=True)
class Mark:
    """What the ledger knows of a file: `loaded` bytes from its start, their SHA-256, and the
    size and mtime (ns) the file had when they were read."""

    loaded: int
    sha256: str
    size: int
    mtime_ns: int

    def same_stat(self, stat: os.stat_result) -> bool:
        """True when the file still has the size and mtime this mark saw."""
        return (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns)

    def as_state(self) -> dict[str, Any]:
        """Plain JSON for dlt state."""
        return {
            "loaded": self.loaded,
            "sha256": self.sha256,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
        }

    @classmethod
    def from_state(cls, value: dict[str, Any]) -> Mark:
        """The mark stored by `as_state`."""
        return cls(
            int(value["loaded"]), str(value["sha256"]), int(value["size"]), int(value["mtime_ns"])
        )


@dataclass(frozen=True)
class Todo:
    """A file to read this run: from byte `start` on (0 unless `change` is appended), checked
    against the mark `known` when appended; `flush` lands an unterminated last line as is."""

    path: Path
    change: str
    start: int = 0
    known: Mark | None = None
    flush: bool = False

    @property
    def name(self) -> str:
        """The file's `_source_file`."""
        return source_name(self.path)

    def rewritten(self) -> Todo:
        """The same file, to be read whole again."""
        return Todo(self.path, REWRITTEN)


@dataclass(frozen=True)
class Piece:
    """Bytes of a file to parse, and the ledger's mark once they have landed."""

    data: bytes
    mark: Mark


class Ledger:
    """The per-file marks in dlt resource state (mutated in place, saved with the load)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state
        self._files: dict[str, dict[str, Any]] = state.setdefault(FILES, {})

    def __len__(self) -> int:
        return len(self._files)

    def get(self, name: str) -> Mark | None:
        """The mark of a file, or None if it was never loaded."""
        value = self._files.get(name)
        return Mark.from_state(value) if value is not None else None

    def record(self, name: str, mark: Mark) -> None:
        """Remember what is now loaded of a file."""
        self._files[name] = mark.as_state()

    def plan(self, paths: Sequence[Path]) -> list[Todo]:
        """The files to read this run, by a `stat` each; files of the old ledger are adopted."""
        legacy: list[str] = self._state.get(LEGACY, [])
        todo: list[Todo] = []
        for path in paths:
            name = source_name(path)
            known = self.get(name)
            if known is None and name in legacy:
                self.record(name, whole_file_mark(path))
                legacy.remove(name)
            elif known is None:
                todo.append(Todo(path, NEW))
            elif not known.same_stat(stat := path.stat()):
                # shrunk below what was loaded: rewritten; else `read_rest` checks the prefix
                if stat.st_size < known.loaded:
                    todo.append(Todo(path, REWRITTEN))
                else:
                    todo.append(Todo(path, APPENDED, known.loaded, known))
            elif known.loaded < known.size:
                # a held-back unterminated line, unchanged for a whole run: its writer stopped
                todo.append(Todo(path, APPENDED, known.loaded, known, flush=True))
        if LEGACY in self._state and not legacy:
            del self._state[LEGACY]
        return todo


def complete_length(data: bytes, flush: bool = False) -> int:
    """How many leading bytes of `data` to load now: all, except an unterminated last line
    that is not (yet) a whole JSON object, unless `flush`."""
    if flush or not data or data.endswith(b"\n"):
        return len(data)
    cut = data.rfind(b"\n") + 1
    return len(data) if _is_object(data[cut:]) else cut


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # not JSON, or not UTF-8
        return False


def whole_file_mark(path: Path) -> Mark:
    """A mark for all of a file as it is now (the old ledger's files, loaded whole)."""
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        _hash_prefix(digest, handle, stat.st_size)
    return Mark(stat.st_size, digest.hexdigest(), stat.st_size, stat.st_mtime_ns)


def scan(path: Path) -> tuple[Mark, bool]:
    """Hash a whole file in chunks, for the DuckDB reader: its mark, and whether DuckDB may read
    it as it is (no delimiter byte, and no last line to hold back).

    A gzip file is hashed as stored and checked decompressed; its last line is whole (the file
    is), and `UnfinishedGzip` says it does not decompress to its end.
    """
    if is_gzip(path):
        return _scan_gzip(path)
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        odd, tail, remaining = False, b"", stat.st_size
        while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
            remaining -= len(chunk)
            digest.update(chunk)
            odd = odd or DELIMITER in chunk
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                tail = chunk[cut + 1 :]
            elif len(tail) <= _LONGEST_TAIL:
                tail += chunk
    whole_tail = len(tail) <= _LONGEST_TAIL and complete_length(tail) == len(tail)
    clean = not odd and remaining == 0 and whole_tail
    return Mark(stat.st_size, digest.hexdigest(), stat.st_size, stat.st_mtime_ns), clean


def _scan_gzip(path: Path) -> tuple[Mark, bool]:
    """`scan` of a gzip file: every member decompressed in chunks, never all in memory."""
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        odd, remaining = False, stat.st_size
        inflate = zlib.decompressobj(wbits=31)
        try:
            while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
                remaining -= len(chunk)
                digest.update(chunk)
                while chunk:
                    odd = odd or DELIMITER in inflate.decompress(chunk)
                    chunk = inflate.unused_data
                    if inflate.eof and chunk:  # the next member
                        inflate = zlib.decompressobj(wbits=31)
                    elif not inflate.eof:
                        chunk = b""
        except zlib.error as exc:
            raise UnfinishedGzip(f"{source_name(path)} is not a whole gzip file ({exc})") from exc
    if remaining or not inflate.eof:
        raise UnfinishedGzip(f"{source_name(path)} is not a whole gzip file (it ends too soon)")
    return Mark(stat.st_size, digest.hexdigest(), stat.st_size, stat.st_mtime_ns), not odd


def read_rest(todo: Todo) -> Piece | None:
    """The bytes of a file from `todo.start` to the end of its last complete line, with the mark
    the ledger takes once they land; None when the bytes before `start` are not the ones the
    ledger loaded (the file was rewritten). Hash and parse see the very same bytes.

    A gzip file is read whole: from its start, decompressed; from the end of the bytes loaded,
    nothing when they are all of it (a touch), else None (changed, so read whole again).
    """
    if is_gzip(todo.path):
        return _read_gzip(todo)
    with todo.path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        if stat.st_size < todo.start:
            return None
        digest = hashlib.sha256()
        if not _hash_prefix(digest, handle, todo.start):
            return None
        if todo.known is not None and digest.hexdigest() != todo.known.sha256:
            return None
        data = handle.read(stat.st_size - todo.start)
    data = data[: complete_length(data, todo.flush)]
    digest.update(data)
    mark = Mark(todo.start + len(data), digest.hexdigest(), stat.st_size, stat.st_mtime_ns)
    return Piece(data, mark)


def _read_gzip(todo: Todo) -> Piece | None:
    """`read_rest` of a gzip file, which is loaded whole or not at all."""
    with todo.path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        data = handle.read(stat.st_size)
    digest = hashlib.sha256(data).hexdigest()
    mark = Mark(len(data), digest, stat.st_size, stat.st_mtime_ns)
    if todo.start == 0:
        return Piece(decompress(data, todo.name), mark)
    if todo.known is not None and todo.start == len(data) and digest == todo.known.sha256:
        return Piece(b"", mark)
    return None


def _hash_prefix(digest: Any, handle: BinaryIO, length: int) -> bool:
    """Feed the first `length` bytes of `handle` to `digest`; False if the file is shorter."""
    remaining = length
    while remaining > 0:
        chunk = handle.read(min(_CHUNK, remaining))
        if not chunk:
            return False
        digest.update(chunk)
        remaining -= len(chunk)
    return True
