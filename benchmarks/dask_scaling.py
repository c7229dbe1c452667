"""Time the processor on a dask LocalCluster with 1 and 2 workers.

Usage: python benchmarks/dask_scaling.py [--events N] [--chunksize C]

The input is a generated flat dimuon tree (the ``uproot-Zmumu.root`` layout),
written once under ``$LATENT_SYMMETRIES_CACHE/benchmarks``. Each worker count
runs in a fresh LocalCluster on 127.0.0.1; the first pass warms the workers
up and the best of ``--repeat`` timed passes gives the rate. The iterative
executor is timed in the same run for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coffea import processor
from coffea.nanoevents import BaseSchema

from processors.dimuon import DimuonProcessor
from processors.executors import make_executor
from samples.cache import cache_dir


def make_input(n_events: int) -> Path:
    path = cache_dir("benchmarks") / f"flat-dimuon-{n_events}.root"
    if path.exists():
        return path
    rng = np.random.default_rng(1)
    branches = {}
    for muon in ("1", "2"):
        momentum = rng.normal(0.0, 30.0, size=(n_events, 3))
        branches[f"px{muon}"] = momentum[:, 0]
        branches[f"py{muon}"] = momentum[:, 1]
        branches[f"pz{muon}"] = momentum[:, 2]
        branches[f"E{muon}"] = np.sqrt(np.square(momentum).sum(axis=1) + 0.0112)
        branches[f"Q{muon}"] = rng.choice(np.array([-1, 1], dtype=np.int32), n_events)
    partial = path.with_suffix(".partial")
    with uproot.recreate(partial) as output:
        output.mktree("events", {name: v.dtype for name, v in branches.items()})
        for start in range(0, n_events, 500_000):
            output["events"].extend(
                {name: v[start : start + 500_000] for name, v in branches.items()}
            )
    partial.replace(path)
    return path


def time_runs(executor, path, chunksize, repeat) -> float:
    runner = processor.Runner(
        executor=executor,
        pre_executor=processor.IterativeExecutor(status=False),
        schema=BaseSchema,
        chunksize=chunksize,
    )
    fileset = {"bench": {"files": {str(path): "events"}}}
    chunks = list(runner.preprocess(fileset))
    runner.run(chunks, DimuonProcessor("p4"))
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        runner.run(chunks, DimuonProcessor("p4"))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--chunksize", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    path = make_input(args.events)
    print(f"input: {path} ({args.events} events, chunksize {args.chunksize})")

    rates = {}
    with make_executor("iterative", status=False) as setup:
        seconds = time_runs(setup.executor, path, args.chunksize, args.repeat)
    rates["iterative"] = args.events / seconds
    print(f"iterative: {seconds:.2f} s, {rates['iterative']:,.0f} events/s")
    for workers in (1, 2):
        with make_executor(
            "dask", workers=workers, status=False, dashboard=False
        ) as setup:
            seconds = time_runs(setup.executor, path, args.chunksize, args.repeat)
        rates[workers] = args.events / seconds
        print(
            f"dask, {workers} workers: {seconds:.2f} s, {rates[workers]:,.0f} events/s"
        )
    print(f"dask scaling from 1 to 2 workers: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
