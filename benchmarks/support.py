"""Pieces that the benchmark scripts share: the input file, the child
processes that time one path each, and the machine and load lines."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def prepare_input(
    path: Path, generate: Callable[[Path, int, int], None], n_events: int, seed: int
) -> None:
    """Generate the input file at ``path`` unless it exists, and print which."""
    if path.exists():
        print(f"input: {path} (reused)")
        return
    start = time.perf_counter()
    generate(path, n_events, seed)
    print(f"input: {path} (generated in {time.perf_counter() - start:.1f} s)")


def run_child(script: str, name: str, options: Sequence[str]) -> dict:
    """Run ``script --child name`` with ``options`` in a new Python process and
    return the JSON object on the last line of its output.

    Each path runs in its own process so that the peak RSS it reports is its
    own. Raises RuntimeError with the end of stderr when the child fails.
    """
    command = [sys.executable, str(Path(script).resolve()), "--child", name]
    completed = subprocess.run(
        [*command, *options], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        msg = f"path {name} failed with exit code {completed.returncode}:\n"
        raise RuntimeError(msg + completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def describe_machine() -> str:
    """Return the machine line printed before the measurements."""
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}"
    )


def load_text() -> str:
    """Return the 1- and 5-minute load averages as text."""
    one_minute, five_minutes, _ = os.getloadavg()
    return f"load average {one_minute:.2f} (1 min), {five_minutes:.2f} (5 min)"
