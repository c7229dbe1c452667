"""Time the quick reproduction of the experiments of arXiv:2504.05174.

Usage: python benchmarks/reproduce.py [--reference SECONDS] [--keep]

Runs ``python analysis.py reproduce --quick --no-progress --outdir <tmp>``
as a subprocess and prints its wall time, the CPU time of all its processes
and the peak RSS of the largest one. Generated samples come from the
project cache as usual, so the first run on a machine also generates them.
``--reference`` adds the wall time over an earlier measurement. The last line
gives the CPU time over the wall time: the number of cores kept busy on
average.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_text() -> str:
    one_minute, five_minutes, _ = os.getloadavg()
    return f"load average {one_minute:.2f} (1 min), {five_minutes:.2f} (5 min)"


def run_reproduction(outdir: Path) -> tuple[int, float, resource.struct_rusage]:
    """Run the reproduction; return its exit code, wall time and resource usage."""
    command = [
        sys.executable,
        str(PROJECT_ROOT / "analysis.py"),
        "reproduce",
        "--quick",
        "--no-progress",
        "--outdir",
        str(outdir),
    ]
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
    wall = time.perf_counter() - start
    # This script starts no other process, so the usage of its children is
    # that of the reproduction and of the processes it waited for.
    return completed.returncode, wall, resource.getrusage(resource.RUSAGE_CHILDREN)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        type=float,
        default=None,
        help="an earlier wall time in seconds to compare with",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the outputs and print their folder"
    )
    args = parser.parse_args(argv)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}"
    )
    print(f"before: {load_text()}")
    folder = Path(tempfile.mkdtemp(prefix="reproduce-benchmark-"))
    try:
        code, wall, usage = run_reproduction(folder / "reproduce")
    finally:
        if args.keep:
            print(f"outputs: {folder / 'reproduce'}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"after: {load_text()}")
    if code != 0:
        print(f"analysis.py reproduce failed with exit code {code}")
        return code

    cpu = usage.ru_utime + usage.ru_stime
    print(f"wall time: {wall:.1f} s")
    print(f"CPU time (user + system, all processes): {cpu:.1f} s")
    print(f"peak RSS of the largest process: {usage.ru_maxrss / 1024:.0f} MiB")
    if args.reference:
        print(
            f"wall time / reference {args.reference:g} s: {wall / args.reference:.2f}"
        )
    print(f"key ratio: CPU time / wall time {cpu / wall:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
