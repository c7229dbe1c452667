"""Check the files of a fileset before processing, and convert LHE files.

Problems a user can fix (a missing file, a file that is neither ROOT nor LHE,
a missing tree) are raised here as :class:`~samples.errors.InputError` with
the file named, before any chunk is processed. A file with zero entries is
dropped from the fileset and reported, so that it neither stops the run nor
goes unmentioned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uproot

from samples.errors import InputError
from samples.lhe import LHE_TREE, ensure_converted, is_lhe


@dataclass
class FileInfo:
    """Format, entries and branches of one input file.

    ``path`` is the file the Runner reads (the cached ROOT copy for an LHE
    file); ``source`` is the file the user named.
    """

    dataset: str
    source: str
    path: str
    treename: str
    format: str
    entries: int
    branches: tuple[str, ...]


def _open_tree(path: Path, treename: str):
    if path.stat().st_size == 0:
        msg = f"input file is empty: {path}"
        raise InputError(msg)
    try:
        root_file = uproot.open(path)
    except Exception as error:
        # uproot breaks its messages over lines; keep them on one, without
        # the file path that the message below already gives.
        lines = [line for line in str(error).splitlines() if str(path) not in line]
        reason = " ".join(lines) or type(error).__name__
        msg = (
            f"cannot open {path}: not a readable ROOT file (truncated or "
            f"corrupt?) and not an LHE file: {reason}"
        )
        raise InputError(msg) from error
    try:
        tree = root_file[treename]
    except KeyError:
        trees = [
            key.split(";")[0]
            for key, cls in root_file.classnames().items()
            if cls in ("TTree", "TNtuple")
        ]
        listed = ", ".join(trees) or "none"
        msg = (
            f"{path} has no tree named {treename!r}; trees in the file: {listed}. "
            "Pass the right name with --treename."
        )
        raise InputError(msg) from None
    except Exception as error:
        msg = f"cannot read tree {treename!r} in {path}: {error}"
        raise InputError(msg) from error
    if not isinstance(tree, uproot.TTree):
        kind = "an RNTuple" if "RNTuple" in type(tree).__name__ else "not a TTree"
        msg = (
            f"{treename!r} in {path} is {kind}; the processor reads TTrees only "
            "(write the file with uproot's mktree, or convert it to a TTree)"
        )
        raise InputError(msg)
    return tree


def inspect_file(
    dataset: str,
    source: str | Path,
    treename: str,
    convert_progress: Callable[[int], None] | None = None,
) -> FileInfo:
    """Open one file and report its format, entries and branches.

    An LHE file (recognised by content) is converted to its cached ROOT copy
    first, and ``treename`` is ignored for it.
    """
    source = Path(source)
    if not source.exists():
        msg = f"input file not found: {source}"
        raise InputError(msg)
    if source.is_dir():
        msg = f"input path is a folder, not a file: {source}"
        raise InputError(msg)

    if is_lhe(source):
        path = ensure_converted(source, progress=convert_progress)
        tree = _open_tree(path, LHE_TREE)
        file_format, treename = "lhe", LHE_TREE
    else:
        path = source
        tree = _open_tree(path, treename)
        file_format = "root"

    try:
        entries = int(tree.num_entries)
        branches = tuple(tree.keys(recursive=True))
    except Exception as error:
        msg = f"cannot read the branches of {treename!r} in {source}: {error}"
        raise InputError(msg) from error
    return FileInfo(
        dataset=dataset,
        source=str(source),
        path=str(path),
        treename=treename,
        format=file_format,
        entries=entries,
        branches=branches,
    )


def _dataset_files(dataset: str, spec) -> list[tuple[str, str | None]]:
    if isinstance(spec, dict):
        files = spec["files"]
        default_tree = spec.get("treename")
    else:
        files, default_tree = spec, None
    if isinstance(files, dict):
        return [(name, tree or default_tree) for name, tree in files.items()]
    return [(name, default_tree) for name in files]


def prepare_fileset(
    fileset: dict,
    treename: str | None = None,
    convert_progress: Callable[[int], None] | None = None,
) -> tuple[dict, list[FileInfo], list[FileInfo]]:
    """Check every file and return a fileset the Runner can read.

    Returns ``(runnable, used, skipped)``: the fileset with LHE files replaced
    by their ROOT copies and empty files removed, the :class:`FileInfo` of the
    files kept (in fileset order), and those skipped for having no entries.
    """
    runnable, used, skipped = {}, [], []
    for dataset, spec in fileset.items():
        files = {}
        for name, tree in _dataset_files(dataset, spec):
            tree = tree or treename
            if tree is None:
                msg = f"no tree name given for {name}; pass --treename"
                raise InputError(msg)
            info = inspect_file(dataset, name, tree, convert_progress)
            if info.entries == 0:
                skipped.append(info)
                continue
            used.append(info)
            files[info.path] = info.treename
        entry = copy.deepcopy(spec) if isinstance(spec, dict) else {}
        entry.pop("treename", None)
        entry["files"] = files
        if files:
            runnable[dataset] = entry
    return runnable, used, skipped
