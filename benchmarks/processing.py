"""Time the dimuon processor against a plain uproot + vector script.

Usage: python benchmarks/processing.py [--events N | --quick] [--repeat R]

The input is a NanoAOD-style file that this script generates once and then
reuses: tree ``Events`` with jagged ``Muon_pt, Muon_eta, Muon_phi,
Muon_mass`` (float32, GeV) and ``Muon_charge`` (int32), 2 * 10^6 events by
default (``--quick``: 2 * 10^5), written by uproot (its default ZLIB
level 1 compression) in baskets of 50,000 events under the project cache
(``$LATENT_SYMMETRIES_CACHE/benchmarks``). Events have 0 to 4 muons (10, 25,
50, 10 and 5 percent). The first two muons of an event stand for a Z decay
and have opposite charges with probability 0.9. Further muons are softer and
of random charge, and each event's muons are sorted by decreasing pT as in
NanoAOD.

Three paths do the same work: read the five branches, choose the
leading-pT mu- and mu+, build the p4 features and fill the constraint
histograms.

``plain``
    a script of uproot.iterate, awkward and vector, in chunks of
    ``--chunksize`` events, without the exact moments of the processor. It
    ranks muons by the stored pT and the processor by the pT of its px and
    py, which can differ only for equal, negative or non-finite stored pT;
``iterative``
    :class:`processors.dimuon.DimuonProcessor` through coffea's Runner with
    the IterativeExecutor, as ``analysis.py --executor iterative`` runs it;
``futures``
    the same with the FuturesExecutor and ``--workers`` processes, built by
    :func:`processors.executors.make_executor` as ``analysis.py --executor
    futures`` runs it: each run starts its own worker processes, forked from
    the driver on Linux.

Each path runs ``--repeat`` times in its own subprocess, so that the peak RSS
printed is that path's alone. The best wall time gives its event rate. The
outputs of every path are compared with those of ``plain``, entry by entry.
Two diagnostic paths follow, which the command line cannot run: the
FuturesExecutor with coffea's own pool of fresh interpreters (loky), started
by each run or already started. Neither compresses the chunk outputs. A last
diagnostic times a pure-Python loop in one process and in two at once. Their
ratio is the most that two worker processes can gain on this machine. The last line gives the two ratios that the
targets are about.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from support import describe_machine, load_text, prepare_input, run_child

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

TREE = "Events"
BRANCHES = ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge")
MUON_MASS = 0.1056583755  # GeV
MULTIPLICITY = (0.10, 0.25, 0.50, 0.10, 0.05)  # events with 0, 1, 2, 3, 4 muons
OPPOSITE_FRACTION = 0.9
BASKET_EVENTS = 50_000
TARGET_EVENTS = 2_000_000
FILE_VERSION = 1
DATASET = "benchmark"
PATHS = ("plain", "iterative", "futures", "futures-loky", "futures-warm")


def input_path(n_events: int, seed: int) -> Path:
    from samples.cache import cache_dir

    name = f"nanoaod-dimuon-{n_events}-seed{seed}-v{FILE_VERSION}.root"
    return cache_dir("benchmarks") / name


def generate_block(rng, n_events: int):
    """Draw the muons of ``n_events`` events as a jagged array of records."""
    import awkward as ak

    counts = rng.choice(len(MULTIPLICITY), size=n_events, p=MULTIPLICITY)
    total = int(counts.sum())
    event = np.repeat(np.arange(n_events), counts)
    first = np.cumsum(counts) - counts
    position = np.arange(total) - first[event]

    # Muons 0 and 1 stand for a Z decay, later ones for softer extra muons.
    from_decay = position < 2
    pt = np.where(
        from_decay, 5.0 + rng.gamma(3.0, 12.0, total), 3.0 + rng.gamma(2.0, 5.0, total)
    )
    eta = rng.uniform(-2.4, 2.4, total)
    phi = rng.uniform(-np.pi, np.pi, total)
    charge = rng.choice(np.array([-1, 1]), total)
    leading_charge = charge[first[event]]
    opposite = rng.random(total) < OPPOSITE_FRACTION
    second = position == 1
    charge[second] = np.where(
        opposite[second], -leading_charge[second], leading_charge[second]
    )

    order = np.lexsort((-pt, event))
    columns = {
        "pt": pt[order].astype(np.float32),
        "eta": eta[order].astype(np.float32),
        "phi": phi[order].astype(np.float32),
        "mass": np.full(total, MUON_MASS, dtype=np.float32),
        "charge": charge[order].astype(np.int32),
    }
    return ak.unflatten(ak.zip(columns), counts)


def generate_file(path: Path, n_events: int, seed: int) -> None:
    import uproot

    rng = np.random.default_rng(seed)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with uproot.recreate(partial) as output:
            for start in range(0, n_events, BASKET_EVENTS):
                muons = generate_block(rng, min(BASKET_EVENTS, n_events - start))
                if start == 0:
                    output.mktree(TREE, {"Muon": muons.type})
                output[TREE].extend({"Muon": muons})
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


# The paths, each run inside a child process.


def run_plain(path: str, chunksize: int):
    """Do the processor's work with uproot, awkward and vector alone."""
    import awkward as ak
    import uproot
    import vector

    from processors.constraints import book_histograms

    vector.register_awkward()
    histograms = book_histograms()
    cutflow = np.zeros(4, dtype=np.int64)
    feature_chunks = []
    for arrays in uproot.iterate({path: TREE}, BRANCHES, step_size=chunksize):
        muons = ak.zip(
            {
                "pt": ak.values_astype(arrays["Muon_pt"], np.float64),
                "eta": ak.values_astype(arrays["Muon_eta"], np.float64),
                "phi": ak.values_astype(arrays["Muon_phi"], np.float64),
                "mass": ak.values_astype(arrays["Muon_mass"], np.float64),
                "charge": arrays["Muon_charge"],
            },
            with_name="Momentum4D",
        )
        negative = muons[muons.charge < 0]
        positive = muons[muons.charge > 0]
        paired = ak.to_numpy((ak.num(negative) > 0) & (ak.num(positive) > 0))
        leading = []
        for candidates in (negative, positive):
            best = ak.argmax(candidates.pt, axis=1, keepdims=True)
            chosen = ak.drop_none(ak.firsts(candidates[best])[paired])
            # Cartesian components, so that m^2 below is E^2 - p^2.
            leading.append(
                ak.zip(
                    {
                        "px": chosen.px,
                        "py": chosen.py,
                        "pz": chosen.pz,
                        "E": chosen.E,
                    },
                    with_name="Momentum4D",
                )
            )
        mu_minus, mu_plus = leading
        features = np.column_stack(
            [
                ak.to_numpy(getattr(muon, component))
                for muon in (mu_minus, mu_plus)
                for component in ("px", "py", "pz", "E")
            ]
        )
        finite = np.isfinite(features).all(axis=1)
        mu_minus = mu_minus[finite]
        mu_plus = mu_plus[finite]

        pair = mu_minus + mu_plus
        pt_minus = ak.to_numpy(mu_minus.pt)
        pt_plus = ak.to_numpy(mu_plus.pt)
        pt_total = pt_minus + pt_plus
        with np.errstate(invalid="ignore", divide="ignore"):
            asymmetry = np.where(pt_total > 0, (pt_minus - pt_plus) / pt_total, np.nan)
        checks = {
            "px_sum": pair.px,
            "py_sum": pair.py,
            "pz_sum": pair.pz,
            "E_sum": pair.E,
            "m2_mu-": mu_minus.mass2,
            "m2_mu+": mu_plus.mass2,
            "m_mumu": pair.mass,
            "pt_mumu": pair.pt,
            "pt_asymmetry": asymmetry,
        }
        for name, values in checks.items():
            histograms[name].fill(ak.to_numpy(values))
        cutflow += [
            len(arrays),
            np.count_nonzero(ak.to_numpy(ak.num(muons) >= 2)),
            np.count_nonzero(paired),
            np.count_nonzero(finite),
        ]
        feature_chunks.append(features[finite])
    return cutflow.tolist(), histograms, np.concatenate(feature_chunks)


def run_runner(path: str, executor, chunksize: int):
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    from processors.dimuon import CUTFLOW_STEPS, DimuonProcessor, order_features

    runner = processor.Runner(
        executor=executor,
        pre_executor=processor.IterativeExecutor(status=False),
        schema=BaseSchema,
        chunksize=chunksize,
    )
    # coffea 2026.9 draws its progress bar even with status=False.
    with contextlib.redirect_stdout(io.StringIO()):
        output = runner({DATASET: {"files": {path: TREE}}}, DimuonProcessor("p4"))
    result = output[DATASET]
    cutflow = [result["cutflow"][step] for step in CUTFLOW_STEPS]
    return cutflow, result["histograms"], order_features(result["features"], [path])


def import_processor(seconds: float) -> int:
    """Import what a chunk needs, then hold the worker for ``seconds``."""
    import coffea.nanoevents  # noqa: F401

    import processors.dimuon  # noqa: F401

    time.sleep(seconds)
    return os.getpid()


def start_warm_pool(workers: int):
    """Start a loky pool in which every worker has imported the processor."""
    import loky

    pool = loky.ProcessPoolExecutor(max_workers=workers)
    # Each task keeps its worker busy, so the tasks spread over all workers.
    pids = set(pool.map(import_processor, [1.0] * workers))
    if len(pids) != workers:
        msg = f"warm-up reached {len(pids)} of {workers} workers"
        raise RuntimeError(msg)
    return pool


def make_path_runner(name: str, workers: int):
    """Return ``(run, close)`` for path ``name``.

    ``run(path, chunksize)`` runs the path once. ``close`` is None or stops
    what this function started.
    """
    from coffea import processor

    if name == "plain":
        return run_plain, None
    if name == "iterative":
        executor = processor.IterativeExecutor(status=False)
        return lambda path, chunksize: run_runner(path, executor, chunksize), None
    if name == "futures":
        from processors.executors import make_executor

        stack = contextlib.ExitStack()
        setup = stack.enter_context(
            make_executor("futures", workers=workers, status=False)
        )
        return (
            lambda path, chunksize: run_runner(path, setup.executor, chunksize),
            stack.close,
        )
    if name == "futures-loky":
        executor = processor.FuturesExecutor(
            workers=workers, status=False, compression=None
        )
        return lambda path, chunksize: run_runner(path, executor, chunksize), None
    pool = start_warm_pool(workers)
    executor = processor.FuturesExecutor(
        workers=workers, status=False, compression=None, pool=pool
    )
    return lambda path, chunksize: run_runner(path, executor, chunksize), pool.shutdown


def spin(iterations: int) -> float:
    """Run a CPU-bound Python loop and return its wall time in seconds."""
    start = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return time.perf_counter() - start


def two_process_ceiling(iterations: int = 8_000_000) -> float:
    """Return the throughput of two processes at once over that of one."""
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        list(pool.map(spin, [1000, 1000]))  # start both workers first
        alone = pool.submit(spin, iterations).result()
        together = list(pool.map(spin, [iterations, iterations]))
    return 2 * alone / max(together)


def high_water_mark_mib(pid: int) -> float | None:
    """Return the peak RSS (``VmHWM``) of a live process in MiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class WorkerMemory:
    """Sample the memory of this process's descendants in a thread.

    ``worker_peak_mib`` is the largest ``VmHWM`` seen in a descendant, its peak
    RSS since it started. getrusage cannot give it: a child that is forked
    and then runs exec, as loky's workers are, reports the RSS of its parent
    at the fork as its own maximum. ``tree_peak_mib`` is the largest sum of
    the RSS of this process and its descendants over the samples, taken every
    ``interval`` seconds, so it can miss a shorter peak.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.worker_peak_mib = 0.0
        self.tree_peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        this = psutil.Process()
        while not self._stop.wait(self.interval):
            total = this.memory_info().rss / 2**20
            for child in this.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss / 2**20
                peak = high_water_mark_mib(child.pid)
                if peak is not None:
                    self.worker_peak_mib = max(self.worker_peak_mib, peak)
            self.tree_peak_mib = max(self.tree_peak_mib, total)


def save_outputs(folder: Path, cutflow, histograms, features) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "features.npy", features)
    np.savez(
        folder / "histograms.npz",
        **{name: h.values(flow=True) for name, h in histograms.items()},
    )
    (folder / "cutflow.json").write_text(json.dumps(cutflow))


def child_main(args) -> None:
    """Run one path ``--repeat`` times and print its timings as one JSON line."""
    run, close = make_path_runner(args.child, args.workers)
    walls, cpus = [], []
    with WorkerMemory() as memory:
        for _ in range(args.repeat):
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            cutflow, histograms, features = run(str(args.input), args.chunksize)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        if close is not None:
            close()
    save_outputs(args.outputs / args.child, cutflow, histograms, features)
    print(
        json.dumps(
            {
                "wall": walls,
                "cpu": cpus,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                / 1024,
                "worker_peak_rss_mib": memory.worker_peak_mib,
                "tree_peak_rss_mib": memory.tree_peak_mib,
                "events": cutflow[0],
            }
        )
    )


# The parent: generate, run the children, compare, print.


def run_path(name: str, args, outputs: Path) -> dict:
    options = [
        "--input",
        str(args.input),
        "--outputs",
        str(outputs),
        "--repeat",
        str(args.repeat),
        "--chunksize",
        str(args.chunksize),
        "--workers",
        str(args.workers),
    ]
    return run_child(__file__, name, options)


def compare_outputs(outputs: Path, reference: str, other: str) -> list[str]:
    """Return the differences between the outputs of two paths."""
    first, second = outputs / reference, outputs / other
    differences = []
    cutflows = [json.loads((f / "cutflow.json").read_text()) for f in (first, second)]
    if cutflows[0] != cutflows[1]:
        differences.append(f"cutflow {cutflows[0]} != {cutflows[1]}")
    features = [np.load(f / "features.npy") for f in (first, second)]
    if features[0].shape != features[1].shape:
        differences.append(f"feature shape {features[0].shape} != {features[1].shape}")
    elif not np.array_equal(features[0], features[1]):
        changed = np.count_nonzero(np.any(features[0] != features[1], axis=1))
        differences.append(f"{changed} feature rows differ")
    with (
        np.load(first / "histograms.npz") as a,
        np.load(second / "histograms.npz") as b,
    ):
        for name in a.files:
            if not np.array_equal(a[name], b[name]):
                differences.append(f"histogram {name} differs")
    return differences


def describe_result(name: str, result: dict, n_events: int) -> str:
    best = min(result["wall"])
    text = (
        f"{name:>20}: best {best:6.2f} s, median "
        f"{statistics.median(result['wall']):6.2f} s, "
        f"{n_events / best / 1e6:5.2f} M events/s; driver CPU "
        f"{min(result['cpu']):5.2f} s, peak RSS {result['peak_rss_mib']:4.0f} MiB"
    )
    if name.startswith("futures"):
        text += (
            f", largest worker {result['worker_peak_rss_mib']:4.0f} MiB, all "
            f"processes together {result['tree_peak_rss_mib']:4.0f} MiB"
        )
    return text


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=TARGET_EVENTS, help="events in the generated file"
    )
    parser.add_argument(
        "--quick", action="store_true", help="use 200,000 events instead"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each path")
    parser.add_argument(
        "--chunksize", type=int, default=100_000, help="events per chunk"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="processes of the futures paths"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the generated file"
    )
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--outputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 200_000
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return

    args.input = input_path(args.events, args.seed)
    prepare_input(args.input, generate_file, args.events, args.seed)
    print(describe_machine())
    print(
        f"settings: {args.events} events, chunks of {args.chunksize}, "
        f"{args.workers} workers, best of {args.repeat} runs per path"
    )
    print(f"before: {load_text()}")

    results = {}
    with tempfile.TemporaryDirectory(prefix="processing-benchmark-") as folder:
        outputs = Path(folder)
        for name in PATHS:
            results[name] = run_path(name, args, outputs)
            print(describe_result(name, results[name], args.events))
        differences = {
            name: compare_outputs(outputs, "plain", name) for name in PATHS[1:]
        }
    print(f"after: {load_text()}")
    for name, found in differences.items():
        verdict = "identical" if not found else "; ".join(found)
        print(f"outputs of {name} against plain: {verdict}")

    rate = {name: args.events / min(result["wall"]) for name, result in results.items()}
    processor_ratio = rate["iterative"] / rate["plain"]
    scaling = rate["futures"] / rate["iterative"]
    if args.events != TARGET_EVENTS:
        print(f"note: the targets are set for {TARGET_EVENTS} events")
    print(
        f"targets: iterative >= 0.5 x plain: {processor_ratio:.2f} "
        f"({'met' if processor_ratio >= 0.5 else 'missed'}); iterative >= 1 M "
        f"events/s: {rate['iterative'] / 1e6:.2f} "
        f"({'met' if rate['iterative'] >= 1e6 else 'missed'}); futures >= 1.6 x "
        f"iterative: {scaling:.2f} ({'met' if scaling >= 1.6 else 'missed'})"
    )
    print(
        f"diagnostic speedups over iterative: futures on coffea's loky pool "
        f"{rate['futures-loky'] / rate['iterative']:.2f}x, the same on a "
        f"started pool {rate['futures-warm'] / rate['iterative']:.2f}x"
    )
    print(
        f"two processes at once run {two_process_ceiling():.2f}x the loop rate "
        "of one: the most a 2-worker path can gain on this machine"
    )
    print(
        f"key ratios: iterative / plain event rate {processor_ratio:.2f}, "
        f"futures / iterative {scaling:.2f}"
    )


if __name__ == "__main__":
    main()
