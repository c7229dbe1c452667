"""Les Houches event files: recognition and a cached columnar conversion.

An LHE file is recognised by its content (gzip magic bytes or the
``<LesHouchesEvents`` root tag), never by its suffix. It is read event by
event with :mod:`pylhe` and written, a block of events at a time, to a ROOT
file that coffea's Runner reads in chunks like any other tree, so a large file
is never held in memory whole. The converted file keeps every particle of the
event record in jagged branches ``LHE_px, LHE_py, LHE_pz, LHE_e, LHE_m``
(float64, GeV), ``LHE_id`` (PDG id), ``LHE_status`` (-1 incoming, 1 final,
2 intermediate), plus the event ``weight``; it is cached under a name derived
from the source file's content, so a changed file is converted again.
"""

from __future__ import annotations

import array
import hashlib
import operator
import os
import warnings
import zlib
from collections.abc import Callable
from itertools import chain
from pathlib import Path

import awkward as ak
import numpy as np
import pylhe
import uproot

from samples.cache import cache_dir
from samples.errors import InputError

LHE_TREE = "events"
CONVERTER_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_BLOCK_EVENTS = 50_000


def _head(path: Path, size: int = 4096) -> bytes:
    with open(path, "rb") as stream:
        start = stream.read(1 << 16)
    if start[:2] == GZIP_MAGIC:
        # A decompressor object returns what it could decode from a truncated
        # stream, where gzip.open would raise and lose the readable start.
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(start, size)
        except zlib.error:
            return b""
    return start[:size]


def is_lhe(path: str | os.PathLike) -> bool:
    """Tell whether ``path`` contains Les Houches events, plain or gzipped."""
    return b"<LesHouchesEvents" in _head(Path(path))


def content_hash(path: Path) -> str:
    """Return the SHA-256 hex digest of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_path(path: str | os.PathLike) -> Path:
    """Return where the columnar copy of LHE file ``path`` is cached."""
    path = Path(path)
    key = f"{content_hash(path)}-v{CONVERTER_VERSION}"
    return cache_dir("lhe") / f"{path.name.split('.')[0]}-{key[:20]}.root"


def ensure_converted(
    path: str | os.PathLike,
    block_events: int = DEFAULT_BLOCK_EVENTS,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Return the cached ROOT copy of LHE file ``path``, converting it if needed."""
    target = converted_path(path)
    if not target.exists():
        convert_lhe(path, target, block_events=block_events, progress=progress)
    return target


# Particle attributes of pylhe.LHEParticle, stored as LHE_px, ... LHE_status.
FLOAT_COLUMNS = ("px", "py", "pz", "e", "m")
INT_COLUMNS = ("id", "status")
_float_values = operator.attrgetter(*FLOAT_COLUMNS)
_int_values = operator.attrgetter(*INT_COLUMNS)


class _Block:
    """The columns of a block of events, filled one pylhe event at a time.

    The particle values go into compact C arrays through map and attrgetter,
    so no Python code runs per particle. No pylhe object is kept, which
    would make the garbage collector scan the growing block again and again.
    """

    def __init__(self):
        self.floats = array.array("d")
        # A PDG id or status beyond the C int range raises OverflowError.
        self.ints = array.array("i")
        self.counts = []
        self.weights = []

    def __len__(self) -> int:
        return len(self.counts)

    def add(self, event) -> None:
        particles = event.particles
        self.floats.extend(chain.from_iterable(map(_float_values, particles)))
        self.ints.extend(chain.from_iterable(map(_int_values, particles)))
        self.counts.append(len(particles))
        self.weights.append(event.eventinfo.weight)

    def arrays(self) -> dict:
        """Return the block as the jagged ``LHE`` record and the ``weight`` column."""
        floats = np.frombuffer(self.floats, dtype=np.float64)
        ints = np.frombuffer(self.ints, dtype=np.intc).astype(np.int32)
        counts = np.asarray(self.counts, dtype=np.int64)
        columns = {}
        for i, name in enumerate(FLOAT_COLUMNS):
            columns[name] = floats[i :: len(FLOAT_COLUMNS)].copy()
        for i, name in enumerate(INT_COLUMNS):
            columns[name] = ints[i :: len(INT_COLUMNS)].copy()
        particles = {
            name: ak.unflatten(values, counts) for name, values in columns.items()
        }
        weights = np.asarray(self.weights, dtype=np.float64)
        return {"LHE": ak.zip(particles), "weight": weights}


def convert_lhe(
    source: str | os.PathLike,
    target: str | os.PathLike,
    block_events: int = DEFAULT_BLOCK_EVENTS,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Convert LHE file ``source`` to a ROOT tree at ``target``.

    Events are written ``block_events`` at a time, so memory stays bounded by
    one block. The output goes to a temporary name and is renamed when
    complete. ``progress`` is called with the number of events in each block
    written. Returns the number of events.

    Raises
    ------
    InputError
        If the file is not valid LHE, or an event cannot be parsed; the
        message names the file and the 1-based event number.
    """
    source = Path(source)
    target = Path(target)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    n_events = 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                lhe_file = pylhe.LHEFile.fromfile(source, with_attributes=False)
            except Exception as error:
                msg = f"malformed LHE file {source}: {error}"
                raise InputError(msg) from error
            # On 10^5 Drell-Yan events with uproot 5.7, LZ4 wrote 8 times
            # faster than the default ZLIB level 1 and read faster, for a file
            # 27% larger.
            with uproot.recreate(partial, compression=uproot.LZ4(1)) as output:
                block = _Block()
                events = iter(lhe_file.events)
                while True:
                    try:
                        event = next(events)
                    except StopIteration:
                        break
                    except Exception as error:
                        msg = (
                            f"malformed event {n_events + 1} in {source}: {error}. "
                            "Fix or remove that <event> block."
                        )
                        raise InputError(msg) from error
                    n_events += 1
                    block.add(event)
                    if len(block) == block_events:
                        _write_block(output, block.arrays())
                        if progress:
                            progress(len(block))
                        block = _Block()
                if len(block) or LHE_TREE not in output:
                    _write_block(output, block.arrays())
                    if progress and len(block):
                        progress(len(block))
            _raise_on_parse_warning(caught, source, n_events)
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return n_events


def _write_block(output, block):
    if LHE_TREE in output:
        output[LHE_TREE].extend(block)
    else:
        # mktree names the jagged branches LHE_px, ... with one counter nLHE,
        # where plain assignment would write a single split record branch.
        output.mktree(LHE_TREE, {"LHE": block["LHE"].type, "weight": np.float64})
        output[LHE_TREE].extend(block)


def _raise_on_parse_warning(caught, source, n_events):
    # pylhe stops at an XML error with a RuntimeWarning instead of raising, so
    # a truncated or corrupt file would otherwise look like a short one.
    for warning in caught:
        text = str(warning.message)
        if "Parse Error" in text:
            msg = (
                f"malformed LHE file {source}: {text} after event {n_events}. "
                f"Event {n_events + 1} or the closing tags are damaged."
            )
            raise InputError(msg)
