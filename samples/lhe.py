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

import gzip
import hashlib
import operator
import os
import warnings
import zlib
from collections.abc import Callable
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
    """Tell whether ``path`` holds Les Houches events, plain or gzipped."""
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


# One record per particle; the names become the branches LHE_px, ... LHE_status.
PARTICLE_COLUMNS = np.dtype(
    [
        ("px", np.float64),
        ("py", np.float64),
        ("pz", np.float64),
        ("e", np.float64),
        ("m", np.float64),
        ("id", np.int32),
        ("status", np.int32),
    ]
)
_particle_values = operator.attrgetter(*PARTICLE_COLUMNS.names)


def _flush(particles, counts, weights):
    """Build the arrays of one block from pylhe particles and per-event lists."""
    # map and attrgetter run in C, which is faster than appending each value
    # to a list in Python and then converting the lists.
    values = np.fromiter(
        map(_particle_values, particles), dtype=PARTICLE_COLUMNS, count=len(particles)
    )
    counts = np.asarray(counts, dtype=np.int64)
    columns = {
        name: ak.unflatten(np.ascontiguousarray(values[name]), counts)
        for name in PARTICLE_COLUMNS.names
    }
    return {"LHE": ak.zip(columns), "weight": np.asarray(weights, dtype=np.float64)}


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
            # LZ4 writes about 8 times faster than uproot's default ZLIB
            # level 1 and reads faster, for files about a quarter larger.
            with uproot.recreate(partial, compression=uproot.LZ4(1)) as output:
                particles, counts, weights = [], [], []
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
                    particles.extend(event.particles)
                    counts.append(len(event.particles))
                    weights.append(event.eventinfo.weight)
                    if len(counts) == block_events:
                        _write_block(output, _flush(particles, counts, weights))
                        if progress:
                            progress(len(counts))
                        particles, counts, weights = [], [], []
                if counts or LHE_TREE not in output:
                    _write_block(output, _flush(particles, counts, weights))
                    if progress and counts:
                        progress(len(counts))
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
