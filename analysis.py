"""Find the constraints of dimuon events from the latent space of VAEs.

Run ``python analysis.py`` for the default analysis of the CMS 2010 dimuon
sample, or ``python analysis.py --help`` for every option. The pipeline is:
fileset -> coffea processor (selection, features, constraint histograms) ->
VAE training over several seeds -> relevance and latent histograms -> plots
and ``summary.json`` in ``results/<sample>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import platform
import re
import shutil
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

DEFAULT_SAMPLE = "cms-zmumu-2010"
VERSIONED_PACKAGES = (
    "numpy",
    "awkward",
    "uproot",
    "coffea",
    "vector",
    "hist",
    "mplhep",
    "torch",
    "pylhe",
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show an option's default in its help unless the default is None."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class UsageError(Exception):
    """A problem the user can fix; printed without a traceback."""


def parse_hidden(text: str) -> tuple[int, ...]:
    """Parse ``"64,64"`` into widths; ``""`` or ``"linear"`` means no hidden layer."""
    text = text.strip()
    if text in ("", "linear", "none"):
        return ()
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        msg = f"invalid --hidden {text!r}: give comma-separated widths like 64,64"
        raise argparse.ArgumentTypeError(msg) from None
    if any(w <= 0 for w in widths):
        msg = f"invalid --hidden {text!r}: widths must be positive"
        raise argparse.ArgumentTypeError(msg)
    return widths


def split_observable(text: str) -> tuple[str, str]:
    """Split ``"NAME=DEFINITION"`` at the first ``=``."""
    name, separator, definition = text.partition("=")
    return name.strip(), definition.strip() if separator else ""


def parse_observable(text: str) -> str:
    """Check an ``--observable NAME=DEFINITION`` and return it tidied.

    The definition is built and tried on example muons here, so that a typo
    stops the run before any event is read.
    """
    from processors.observables import (
        OBSERVABLE_UNITS,
        ObservableError,
        observable_from_text,
    )

    name, definition = split_observable(text)
    if not name.isidentifier() or not definition:
        msg = (
            f"invalid --observable {text!r}: give NAME=DEFINITION, such as "
            "pz_mumu=pair.pz"
        )
        raise argparse.ArgumentTypeError(msg)
    if name in OBSERVABLE_UNITS:
        msg = f"invalid --observable {text!r}: {name} is built in; choose another name"
        raise argparse.ArgumentTypeError(msg)
    try:
        observable_from_text(definition, name)
    except ObservableError as error:
        raise argparse.ArgumentTypeError(f"invalid --observable: {error}") from None
    return f"{name}={definition}"


def parse_betas(text: str) -> tuple[float, ...]:
    """Parse ``"0.01,0.1,1"`` into positive beta values."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        msg = f"invalid --beta-scan {text!r}: give comma-separated numbers"
        raise argparse.ArgumentTypeError(msg) from None
    if any(not np.isfinite(v) or v <= 0 for v in values):
        msg = f"invalid --beta-scan {text!r}: every beta must be positive"
        raise argparse.ArgumentTypeError(msg)
    return values


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not np.isfinite(value):
        msg = f"expected a finite number, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        msg = f"expected a positive number, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        msg = f"expected a positive integer, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    from models.vae import ACTIVATIONS
    from processors.executors import JOBQUEUE_CLUSTERS
    from processors.features import FEATURE_SETS

    parser = argparse.ArgumentParser(
        prog="analysis.py",
        description=(
            "Train VAEs on dimuon events and rank their latent directions by "
            "relevance to find the constraints of the data."
        ),
        formatter_class=HelpFormatter,
    )
    data = parser.add_argument_group("input")
    data.add_argument(
        "--sample",
        default=None,
        help=f"registered sample name (default {DEFAULT_SAMPLE}); --list-samples "
        "shows them",
    )
    data.add_argument(
        "--files",
        nargs="+",
        metavar="PATH",
        help="your own ROOT or LHE files (LHE plain or gzipped, found by content)",
    )
    data.add_argument(
        "--treename",
        default="Events",
        help="tree to read in ROOT files given with --files",
    )
    data.add_argument(
        "--list-samples", action="store_true", help="list the samples and exit"
    )
    data.add_argument(
        "--max-train-events",
        type=positive_int,
        default=None,
        help="train on at most this many selected events, a uniform subsample "
        "seeded by --seed; histograms still use every event",
    )
    data.add_argument(
        "--max-events",
        type=positive_int,
        default=None,
        help="read at most this many events, from the start of the fileset",
    )

    proc = parser.add_argument_group("processing")
    proc.add_argument(
        "--features",
        choices=sorted(FEATURE_SETS),
        default=None,
        help="p3: the two muon three-momenta (6 features); p4: the two "
        "four-momenta (8). Default: the sample's own, p4 for files",
    )
    proc.add_argument(
        "--executor",
        choices=("iterative", "futures", "dask"),
        default="iterative",
        help="coffea executor that runs the processor over chunks",
    )
    proc.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="processes for --executor futures, or workers of the local dask cluster",
    )
    proc.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        default=None,
        help="with --executor dask: connect to this running scheduler instead of "
        "starting a local cluster",
    )
    proc.add_argument(
        "--scheduler-timeout",
        type=positive_float,
        default=10.0,
        help="seconds to wait for the dask scheduler",
    )
    proc.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip chunks whose file cannot be read during processing, and list "
        "them with their event counts in summary.json",
    )

    batch = parser.add_argument_group("batch cluster (with --executor dask)")
    batch.add_argument(
        "--cluster",
        choices=sorted(JOBQUEUE_CLUSTERS),
        default=None,
        help="start dask workers as batch jobs through dask-jobqueue",
    )
    batch.add_argument("--cores", type=positive_int, help="cores per job")
    batch.add_argument("--memory", help="memory per job, such as 8GB")
    batch.add_argument("--walltime", help="wall time per job, HH:MM:SS")
    batch.add_argument("--queue", help="queue or partition (not HTCondor)")
    batch.add_argument("--account", help="account or project to charge")
    batch.add_argument("--disk", help="disk per job, such as 10GB (HTCondor)")
    batch.add_argument("--jobs", type=int, help="number of jobs to start (default 1)")
    batch.add_argument(
        "--jobqueue-config",
        type=Path,
        help="YAML file in dask's configuration format (jobqueue.<system>.*)",
    )
    batch.add_argument(
        "--distribute-training",
        action="store_true",
        help="train the runs as dask tasks on the cluster's workers, one batch "
        "of seeds per worker",
    )
    batch.add_argument(
        "--print-job-script",
        action="store_true",
        help="print the job script for --cluster and exit without submitting",
    )
    proc.add_argument(
        "--chunksize",
        type=positive_int,
        default=100_000,
        help="events per chunk handed to the processor",
    )

    model = parser.add_argument_group("model and training")
    model.add_argument(
        "--latent-dim",
        type=positive_int,
        default=None,
        help="number of latent directions (default: the number of features)",
    )
    model.add_argument(
        "--runs", type=positive_int, default=10, help="training runs, one seed each"
    )
    model.add_argument("--epochs", type=positive_int, default=30, help="epochs per run")
    model.add_argument(
        "--beta",
        type=positive_float,
        default=0.1,
        help="weight of the KL term in the loss",
    )
    model.add_argument(
        "--lr", type=positive_float, default=1e-3, help="Adam learning rate"
    )
    model.add_argument(
        "--batch-size", type=positive_int, default=256, help="events per minibatch"
    )
    model.add_argument(
        "--hidden",
        type=parse_hidden,
        default="64,64",
        help="hidden widths of the encoder, mirrored by the decoder; 'linear' "
        "for a linear VAE",
    )
    model.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default="relu", help="activation"
    )
    model.add_argument(
        "--seed", type=int, default=0, help="seed of run 0; run k uses seed + k"
    )
    model.add_argument(
        "--sequential",
        action="store_true",
        help="train runs one after another instead of as one vectorized ensemble",
    )
    model.add_argument(
        "--relevance-threshold",
        type=finite_float,
        default=1.0,
        help="a latent counts as relevant when its relevance exceeds this",
    )
    model.add_argument(
        "--beta-scan",
        type=parse_betas,
        default=None,
        metavar="B1,B2,...",
        help="also train at each of these beta values (same seeds) and plot the "
        "relevance rankings together, e.g. 0.01,0.03,0.1,0.3,1",
    )
    model.add_argument(
        "--observable",
        action="append",
        type=parse_observable,
        default=[],
        metavar="NAME=DEFINITION",
        help="add a pair observable to correlate with the relevant latents, next "
        "to m_mumu, pt_mumu, y_mumu, the Collins-Soper angles and delta_phi. "
        "DEFINITION is a Python expression of the muon vector arrays minus and "
        "plus, their sum pair, and np, e.g. 'pz_mumu=pair.pz' or "
        "'deta=abs(minus.eta - plus.eta)', or module:function called as "
        "function(minus, plus). Repeat the option for more",
    )
    model.add_argument(
        "--no-interpretation",
        action="store_true",
        help="skip latent attribution, constraint discovery and the intrinsic "
        "dimension estimators",
    )
    model.add_argument(
        "--min-events",
        type=positive_int,
        default=100,
        help="minimum number of selected events needed to train",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--outdir",
        type=Path,
        default=None,
        help="output folder (default results/<sample>)",
    )
    out.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def list_samples() -> None:
    from samples.registry import SAMPLES

    width = max(len(name) for name in SAMPLES)
    for name, sample in sorted(SAMPLES.items()):
        print(f"{name:<{width}}  {sample.description}")
        print(f"{'':<{width}}  from: {sample.origin}")


def resolve_input(args):
    """Return ``(fileset, sample name, default feature set, facts)``."""
    from samples.registry import get_sample, sample_fileset, user_fileset

    if args.files and args.sample:
        msg = "give either --sample or --files, not both"
        raise UsageError(msg)
    if args.files:
        fileset = user_fileset(args.files, args.treename)
        name = "user-files"
        return fileset, name, "p4", fileset[name]["metadata"]
    sample = get_sample(args.sample or DEFAULT_SAMPLE)
    fileset = sample_fileset(sample)
    return fileset, sample.name, sample.default_features, sample.metadata()


def warn_repeated_files(paths, reporter) -> None:
    """Warn about files named more than once; the fileset reads each once."""
    from samples.registry import count_files

    for path, count in count_files(paths).items():
        if count > 1:
            reporter.warn(f"{path} is given {count} times; it is read once")


class Reporter:
    """Progress bars and messages on the terminal, for the driver only."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def bar(self, total, unit, description):
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            unit=unit,
            desc=description,
            disable=not self.enabled,
            unit_scale=True,
            dynamic_ncols=True,
        )

    def say(self, text: str) -> None:
        print(text, flush=True)

    def warn(self, text: str) -> None:
        print(f"warning: {text}", file=sys.stderr, flush=True)


def prepare_input(fileset, treename, reporter):
    from processors.layouts import LayoutError, detect_layout
    from samples.errors import InputError
    from samples.files import prepare_fileset

    bar = None

    def on_block(n_events):
        nonlocal bar
        if bar is None:
            bar = reporter.bar(None, "event", "converting LHE")
        bar.update(n_events)

    try:
        runnable, used, skipped = prepare_fileset(fileset, treename, on_block)
    finally:
        if bar is not None:
            bar.close()
    for info in used:
        try:
            detect_layout(
                info.branches, where=f"tree {info.treename!r} in {info.source}"
            )
        except LayoutError as error:
            raise InputError(str(error)) from None
    for info in skipped:
        if info.format == "lhe":
            reporter.warn(f"skipped {info.source}: the LHE file has no <event> block")
        else:
            reporter.warn(f"skipped {info.source}: tree {info.treename!r} has 0 events")
    if not used:
        msg = "no events to process: no input file holds an event"
        raise InputError(msg)
    return runnable, used, skipped


def cluster_options(args) -> dict:
    """Collect the batch-cluster options for :mod:`processors.executors`."""
    return {
        "cores": args.cores,
        "memory": args.memory,
        "walltime": args.walltime,
        "queue": args.queue,
        "account": args.account,
        "disk": args.disk,
        "jobs": args.jobs,
        "config": args.jobqueue_config,
    }


def unreadable_file_errors() -> tuple[type[BaseException], ...]:
    """Return the exceptions that mean a chunk's file cannot be read.

    coffea's own default is OSError alone. Corrupt compressed baskets raise
    zlib.error, lzma.LZMAError or uproot's DeserializationError instead, and
    --skip-bad-files must skip those files too.
    """
    import lzma
    import zlib

    import uproot

    return (OSError, zlib.error, lzma.LZMAError, uproot.DeserializationError)


def make_runner(args, executor):
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    return processor.Runner(
        executor=executor,
        pre_executor=processor.IterativeExecutor(status=False),
        schema=BaseSchema,
        chunksize=args.chunksize,
        skipbadfiles=unreadable_file_errors() if args.skip_bad_files else False,
    )


def limit_chunks(chunks, max_events):
    """Keep the leading chunks up to ``max_events`` entries, cutting the last."""
    if max_events is None:
        return list(chunks)
    kept, total = [], 0
    for chunk in chunks:
        if total >= max_events:
            break
        size = chunk.entrystop - chunk.entrystart
        if total + size > max_events:
            chunk = dataclasses.replace(
                chunk, entrystop=chunk.entrystart + (max_events - total)
            )
            size = chunk.entrystop - chunk.entrystart
        kept.append(chunk)
        total += size
    return kept


@contextlib.contextmanager
def open_executor(args, reporter):
    """Start the executor of ``args`` (and its cluster) for the run's duration."""
    from processors.executors import make_executor

    with make_executor(
        args.executor,
        workers=args.workers,
        status=not args.no_progress,
        scheduler=args.scheduler,
        cluster=args.cluster,
        cluster_options=cluster_options(args),
        connect_timeout=args.scheduler_timeout,
    ) as setup:
        if setup.dashboard_link:
            reporter.say(f"dask dashboard: {setup.dashboard_link}")
        yield setup


# Relative drop of the mean loss over the last epochs above which training
# is reported as unconverged.
CONVERGENCE_TOLERANCE = 0.01
CONVERGENCE_EPOCHS = 5


def warn_if_unconverged(result, reporter) -> None:
    """Warn when the loss still fell by more than 1% over the last 5 epochs."""
    loss = result.history["loss"].mean(axis=0)
    if len(loss) <= CONVERGENCE_EPOCHS:
        return
    before, last = loss[-CONVERGENCE_EPOCHS - 1], loss[-1]
    drop = (before - last) / abs(before) if before else 0.0
    if drop > CONVERGENCE_TOLERANCE:
        reporter.warn(
            f"the mean loss fell by {100 * drop:.1f}% over the last "
            f"{CONVERGENCE_EPOCHS} epochs ({before:.3f} to {last:.3f}): training "
            "has not converged and the relevant-latent counts may still change; "
            "consider more --epochs"
        )


def _train_batch(features, config, run_ids):
    from models.training import train

    return train(features, config, run_ids=run_ids)


def train_runs(features, config, args, setup, reporter):
    """Train every run, spread over the dask workers with --distribute-training.

    Each dask task trains one contiguous batch of seeds as an ensemble; a run
    draws only from its own seed, so the result equals local training.
    """
    from models.training import merge_results, split_runs, train

    bar = reporter.bar(config.runs * config.epochs, "epoch", "training")
    try:
        if args.distribute_training and setup.client is not None:
            workers = max(1, len(setup.client.scheduler_info()["workers"]))
            batches = split_runs(range(config.runs), workers)
            shared = setup.client.scatter(features, broadcast=True)
            futures = [
                setup.client.submit(_train_batch, shared, config, batch, pure=False)
                for batch in batches
            ]
            results = []
            for future, batch in zip(futures, batches):
                results.append(future.result())
                bar.update(len(batch) * config.epochs)
            return merge_results(results)

        def on_epoch(run_epochs, loss):
            bar.update(run_epochs)
            bar.set_postfix(loss=f"{loss:.3f}")

        return train(features, config, on_epoch=on_epoch)
    finally:
        bar.close()


def run_processor(runnable, used, args, feature_set, reporter, setup):
    """Run the processor over the chunks; return ``(output, read, missing)``.

    ``read`` lists the chunks processed; ``missing`` the entries, as
    :class:`SkippedChunk`, that --skip-bad-files let coffea skip.
    """
    from processors.dimuon import DimuonProcessor

    # NOTE: coffea 2026.9's iterative and futures executors draw their rich
    # progress bar even with status=False, so --no-progress buffers stdout.
    quiet = contextlib.redirect_stdout(io.StringIO()) if args.no_progress else None
    runner = make_runner(args, setup.executor)
    with quiet or contextlib.nullcontext(), warnings.catch_warnings():
        # coffea warns once per retry of a failing chunk; the error or the
        # skipped-file warning below names the file and the entries instead.
        warnings.filterwarnings("ignore", message="Performed attempt")
        try:
            every_chunk = list(runner.preprocess(runnable))
            chunks = limit_chunks(every_chunk, args.max_events)
            total = sum(c.entrystop - c.entrystart for c in chunks)
            fraction = keep_fraction(args.max_train_events, total)
            processor = DimuonProcessor(feature_set, fraction, args.seed)
            output = runner.run(chunks, processor)
        except Exception as error:
            raise ProcessingError(describe_processing_error(error)) from error
    output = output["out"]
    processed = set()
    for dataset_output in output.values():
        processed.update(dataset_output["features"])
    missing = [
        SkippedChunk(c.filename, c.entrystart, c.entrystop)
        for c in chunks
        if (c.filename, c.entrystart) not in processed
    ]
    # A file that fails while coffea reads its metadata yields no chunk at all.
    chunked = {c.filename for c in every_chunk}
    missing += [
        SkippedChunk(info.path, 0, info.entries)
        for info in used
        if info.path not in chunked
    ]
    if missing and not args.skip_bad_files:
        msg = f"{len(missing)} chunks produced no output, for example {missing[0]}"
        raise ProcessingError(msg)
    read = [c for c in chunks if (c.filename, c.entrystart) in processed]
    return output, read, missing


def describe_processing_error(error: Exception) -> str:
    """Return a one-line message for a failed chunk.

    coffea wraps the error of a chunk in an Exception whose text contains
    the whole work item. Where that text has the usual form, the message keeps
    only the file, the entries and the original error.
    """
    text = str(error)
    item = re.search(
        r"filename='(?P<file>[^']*)'.*?entrystart=(?P<start>\d+), "
        r"entrystop=(?P<stop>\d+)",
        text,
    )
    cause = re.search(r"The error was: (?P<cause>.*)\.$", text, re.DOTALL)
    if item is None or cause is None:
        return f"processing failed: {type(error).__name__}: {text}"
    return (
        f"processing failed on entries {item['start']}-{item['stop']} of "
        f"{item['file']}: {cause['cause']}. If the file is damaged, "
        "--skip-bad-files skips it and lists it in summary.json"
    )


class ProcessingError(Exception):
    """A chunk failed inside the processor; the message names file and entries."""


def collect(output, used, feature_set):
    """Merge the per-dataset processor output into one cutflow and feature matrix."""
    from processors.constraints import book_histograms
    from processors.dimuon import CUTFLOW_STEPS, empty_features, order_features

    cutflow = dict.fromkeys(CUTFLOW_STEPS, 0)
    histograms = book_histograms()
    moments = {}
    chunks = {}
    sample_keys = {}
    for dataset_output in output.values():
        for step, count in dataset_output["cutflow"].items():
            cutflow[step] += count
        for name, h in dataset_output["histograms"].items():
            histograms[name] += h
        for name, m in dataset_output["moments"].items():
            moments[name] = moments[name] + m if name in moments else m
        chunks.update(dataset_output["features"])
        sample_keys.update(dataset_output.get("sample_keys", {}))
    order = [info.path for info in used]
    features = order_features(chunks, order)
    if features.size == 0:
        features = empty_features(feature_set)
    keys = order_features(
        {k: v[:, np.newaxis] for k, v in sample_keys.items()}, order
    ).reshape(-1)
    return cutflow, histograms, moments, features, keys


# The processor keeps about twice the cap, so that the cap's smallest keys are
# all present unless fewer than half of the events are selected.
# NOTE: when fewer than half are selected, training gets fewer rows than the
# cap (still a uniform subsample); summary.json reports the count as n_train.
OVERSAMPLING = 2.0


def keep_fraction(max_train_events, n_events: int) -> float:
    """Return the share of events the processor hands on for training."""
    if max_train_events is None or n_events == 0:
        return 1.0
    return min(1.0, OVERSAMPLING * max_train_events / n_events)


def cap_training_events(features, keys, max_train_events, seed):
    """Keep at most ``max_train_events`` rows, a uniform seeded subsample.

    ``keys`` are the processor's per-event uniform keys (empty when it kept
    every row, in which case keys are drawn here from ``seed``). Rows keep
    their file and entry order.
    """
    if max_train_events is None or len(features) <= max_train_events:
        return features
    if len(keys) != len(features):
        keys = np.random.default_rng(seed).random(len(features))
    chosen = np.sort(np.argpartition(keys, max_train_events - 1)[:max_train_events])
    return features[chosen]


def root_key(name: str) -> str:
    return name.replace("-", "m").replace("+", "p")


def typical_run(relevance: np.ndarray) -> int:
    """Return the index of the run whose sorted log-relevance is closest to the mean."""
    from models.relevance import sort_decreasing

    logs = np.log(np.clip(sort_decreasing(relevance), 1e-12, None))
    distance = np.square(logs - logs.mean(axis=0)).sum(axis=1)
    return int(np.argmin(distance))


OUTPUT_NAMES = (
    "summary.json",
    "histograms.root",
    "relevance.png",
    "latent_grid.png",
    "constraints.png",
    "mass.png",
    "beta_scan.png",
    "report.md",
    "models.pt",
)


def staging_folder(outdir: Path) -> Path:
    """Return the temporary folder, inside ``outdir``, that outputs go to first.

    Keeping it inside ``outdir`` puts it on the same filesystem, so the final
    renames are atomic.
    """
    return outdir / f".partial-{os.getpid()}"


def check_outdir(outdir: Path) -> None:
    """Check that ``outdir`` can be created and written, without creating it.

    Raises :class:`~samples.errors.InputError` before any work is done, so an
    unusable folder does not cost a full run.
    """
    from samples.errors import InputError

    if outdir.exists() and not outdir.is_dir():
        msg = f"--outdir {outdir} is an existing file, not a folder"
        raise InputError(msg)
    existing = outdir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        msg = f"--outdir {outdir} is inside {existing}, which is a file"
        raise InputError(msg)
    # Create and remove a folder where the outputs will go: nothing is left
    # behind if the run fails before writing them.
    probe = existing / f".probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as error:
        msg = f"cannot write to the output folder {outdir}: {error.strerror}"
        raise InputError(msg) from error


def write_outputs(staging: Path, outdir: Path) -> list[Path]:
    """Move every file from ``staging`` into ``outdir``, replacing old ones.

    Outputs of an earlier run that this run did not produce (a constraint
    plot after a toy run, say) are removed, so the folder describes one run.
    """
    produced = {path.name for path in staging.iterdir()}
    for name in OUTPUT_NAMES:
        stale = outdir / name
        if name not in produced and stale.is_file():
            stale.unlink()
    written = []
    for path in sorted(staging.iterdir()):
        target = outdir / path.name
        os.replace(path, target)
        written.append(target)
    staging.rmdir()
    return written


@dataclasses.dataclass
class SkippedChunk:
    """Entries of a file that --skip-bad-files let the processor skip."""

    source: str
    entrystart: int
    entrystop: int

    @property
    def entries(self) -> int:
        return self.entrystop - self.entrystart


@dataclasses.dataclass
class EventData:
    """Features and their provenance, handed from the event stage to training."""

    sample: str
    facts: dict
    feature_set: str
    names: list
    features: np.ndarray
    cutflow: dict
    histograms: dict
    moments: dict
    check_names: list
    used: list
    skipped: list


def load_toy(sample, args) -> EventData:
    features, names = sample.make_features()
    if args.max_events is not None:
        features = features[: args.max_events]
    finite = np.isfinite(features).all(axis=1)
    cutflow = {
        "events generated": len(features),
        "finite features": int(finite.sum()),
    }
    features = cap_training_events(
        features[finite], np.empty(0), args.max_train_events, args.seed
    )
    finite = np.ones(len(features), dtype=bool)
    return EventData(
        sample=sample.name,
        facts=sample.metadata(),
        feature_set="toy",
        names=list(names),
        features=features[finite],
        cutflow=cutflow,
        histograms={},
        moments={},
        check_names=[],
        used=[],
        skipped=[],
    )


def load_events(args, reporter, setup) -> EventData:
    """Resolve the input and run the processor, or generate a toy sample."""
    from processors.constraints import CHECKS, INITIAL_STATE_CHECKS
    from processors.features import feature_names
    from samples.registry import get_sample

    if args.sample and not args.files:
        sample = get_sample(args.sample)
        if sample.is_toy:
            if args.observable:
                msg = (
                    f"--observable applies to dimuon samples, and {sample.name} "
                    "is a toy sample"
                )
                raise UsageError(msg)
            if args.features:
                msg = f"--features does not apply to the toy sample {sample.name}"
                raise UsageError(msg)
            return load_toy(sample, args)

    fileset, sample_name, default_features, facts = resolve_input(args)
    warn_repeated_files(args.files or [], reporter)
    feature_set = args.features or default_features
    runnable, used, skipped = prepare_input(fileset, args.treename, reporter)
    output, chunks, missing = run_processor(
        runnable, used, args, feature_set, reporter, setup
    )
    sources = {info.path: info.source for info in used}
    missing = [
        dataclasses.replace(m, source=sources.get(m.source, m.source)) for m in missing
    ]
    for chunk in missing:
        reporter.warn(
            f"skipped entries {chunk.entrystart}-{chunk.entrystop} of "
            f"{chunk.source}: the file could not be read"
        )
    expected = sum(c.entrystop - c.entrystart for c in chunks)
    cutflow, histograms, moments, features, keys = collect(output, used, feature_set)
    features = cap_training_events(features, keys, args.max_train_events, args.seed)
    if cutflow["events read"] != expected:
        msg = (
            f"the processor read {cutflow['events read']} events but the chunks "
            f"hold {expected}; some chunks were lost or counted twice"
        )
        raise ProcessingError(msg)
    skipped = list(skipped) + missing
    check_names = list(CHECKS)
    if any(info.format == "lhe" for info in used):
        check_names += list(INITIAL_STATE_CHECKS)
    return EventData(
        sample=sample_name,
        facts=facts,
        feature_set=feature_set,
        names=list(feature_names(feature_set)),
        features=features,
        cutflow=cutflow,
        histograms=histograms,
        moments=moments,
        check_names=check_names,
        used=used,
        skipped=skipped,
    )


MUON_MASS = 0.1056583755  # GeV, PDG 2024


def pair_four_momenta(features, names):
    """Return ``(mu_minus, mu_plus)`` as ``(n, 4)`` arrays of (px, py, pz, E).

    With the ``p3`` features the energy is computed for the muon mass.
    """
    index = {name: i for i, name in enumerate(names)}
    pairs = []
    for muon in ("mu-", "mu+"):
        momentum = [features[:, index[f"{c}_{muon}"]] for c in ("px", "py", "pz")]
        if f"E_{muon}" in index:
            energy = features[:, index[f"E_{muon}"]]
        else:
            energy = np.sqrt(sum(np.square(p) for p in momentum) + MUON_MASS**2)
        pairs.append(np.column_stack([*momentum, energy]))
    return pairs[0], pairs[1]


def user_observables(data, args) -> dict[str, np.ndarray]:
    """Evaluate the --observable definitions on the selected events.

    This runs before training, so that a definition that fails on the data,
    returns the wrong shape or is not finite for some events stops the run
    before the long stage. Raises UsageError naming the observable.
    """
    from processors.observables import (
        ObservableError,
        evaluate_observables,
        observable_from_text,
    )

    if not args.observable or args.no_interpretation or data.feature_set == "toy":
        return {}
    mu_minus, mu_plus = pair_four_momenta(data.features, data.names)
    values = {}
    for name, definition in map(split_observable, args.observable):
        function = observable_from_text(definition, name)
        try:
            with np.errstate(all="ignore"):
                values.update(evaluate_observables(mu_minus, mu_plus, {name: function}))
        except ObservableError as error:
            raise UsageError(str(error)) from error
        except Exception as error:
            msg = (
                f"observable {name!r} failed on the selected events: "
                f"{type(error).__name__}: {error}"
            )
            raise UsageError(msg) from error
        bad = ~np.isfinite(values[name])
        if bad.any():
            msg = (
                f"observable {name!r} is NaN or infinite for {int(bad.sum())} of "
                f"{bad.size} selected events; define it for every event, for "
                "example with where(condition, value, 0.0)"
            )
            raise UsageError(msg)
    return values


def interpret_run(data, result, reference, n_relevant, args, extra_observables):
    """Explain the reference run's relevant latents; None with --no-interpretation.

    ``extra_observables`` are the user's, from :func:`user_observables`.
    """
    if args.no_interpretation:
        return None
    from models.interpretation import interpret
    from processors.observables import compute_observables

    observables = None
    unit = ""
    if data.feature_set != "toy":
        unit = "GeV"
        mu_minus, mu_plus = pair_four_momenta(data.features, data.names)
        observables = compute_observables(mu_minus, mu_plus)
        observables.update(extra_observables)
    mu, _ = result.encode(data.features, result.run_ids[reference])
    order = np.argsort(-result.relevance[reference])
    return interpret(
        data.features,
        data.names,
        mu,
        order,
        n_relevant,
        observables=observables,
        unit=unit,
        seed=args.seed,
    )


def scan_beta(features, config, betas, reporter):
    """Train the same runs at each beta; return ``{beta: relevance}``."""
    from models.training import train

    scanned = {}
    bar = reporter.bar(len(betas) * config.runs * config.epochs, "epoch", "beta scan")
    try:
        for beta in betas:
            scan_config = dataclasses.replace(config, beta=beta)
            result = train(features, scan_config, on_epoch=lambda n, _: bar.update(n))
            scanned[beta] = result.relevance
    finally:
        bar.close()
    return scanned


def run_analysis(args, reporter):
    """Run every stage for one sample; return ``(summary, events, training)``."""
    import torch
    import uproot

    from models.relevance import count_relevant, sort_decreasing, summarize_runs
    from models.training import TrainingConfig, TrainingDataError
    from processors import plots
    from processors.constraints import check_unit
    from processors.histograms import latent_feature_histograms, relevance_histograms

    timing = {}
    start = time.perf_counter()
    planned = args.outdir or Path("results") / (
        "user-files" if args.files else (args.sample or DEFAULT_SAMPLE)
    )
    check_outdir(planned)
    with open_executor(args, reporter) as setup:
        data = load_events(args, reporter, setup)
        extra_observables = user_observables(data, args)
        timing["events"] = time.perf_counter() - start
        names, features, cutflow = data.names, data.features, data.cutflow
        sample_name = data.sample
        outdir = args.outdir or Path("results") / sample_name

        config = TrainingConfig(
            latent_dim=args.latent_dim or len(names),
            hidden=args.hidden,
            activation=args.activation,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            beta=args.beta,
            runs=args.runs,
            seed=args.seed,
            ensemble=not args.sequential,
            min_events=args.min_events,
        )
        latent_dim = config.latent_dim
        tick = time.perf_counter()
        try:
            result = train_runs(features, config, args, setup, reporter)
        except TrainingDataError as error:
            steps = ", ".join(f"{step} {count}" for step, count in cutflow.items())
            raise TrainingDataError(f"{error} Cutflow: {steps}.") from None
        timing["training"] = time.perf_counter() - tick
        warn_if_unconverged(result, reporter)

    tick = time.perf_counter()
    relevance = result.relevance
    ranked = sort_decreasing(relevance)
    mean, std = summarize_runs(relevance)
    n_relevant = count_relevant(relevance, args.relevance_threshold)
    reference = typical_run(relevance)
    mu, _ = result.encode(features, result.run_ids[reference])
    order = np.argsort(-relevance[reference])
    latent_hists = latent_feature_histograms(mu, features, names, order)

    timing["latent histograms"] = time.perf_counter() - tick
    tick = time.perf_counter()
    interpretation = interpret_run(
        data, result, reference, int(n_relevant[reference]), args, extra_observables
    )
    timing["interpretation"] = time.perf_counter() - tick
    scanned = None
    if args.beta_scan:
        tick = time.perf_counter()
        scanned = scan_beta(features, config, args.beta_scan, reporter)
        timing["beta scan"] = time.perf_counter() - tick
    tick = time.perf_counter()

    outdir.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(outdir)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        check_names = data.check_names
        histograms, moments = data.histograms, data.moments
        with uproot.recreate(staging / "histograms.root") as root_file:
            for key, h in relevance_histograms(relevance).items():
                root_file[key] = h
            for (rank, name), h in latent_hists.items():
                root_file[f"latent_vs_feature/mu{rank + 1}_vs_{root_key(name)}"] = h
            for name in check_names:
                root_file[f"constraints/{root_key(name)}"] = histograms[name]

        checks = {
            name: moments[name].to_dict(check_unit(name))
            for name in check_names
            if name in moments
        }
        title = f"{sample_name}: {len(features)} events, {data.feature_set}"
        plots.plot_relevance(
            relevance, staging / "relevance.png", title, args.relevance_threshold
        )
        plots.plot_latent_grid(
            latent_hists,
            names,
            ranked[reference],
            staging / "latent_grid.png",
            f"{title}, run {result.run_ids[reference]} (seed {result.seeds[reference]})",
        )
        if check_names:
            plots.plot_constraints(
                histograms, check_names, staging / "constraints.png", title
            )
            plots.plot_mass(histograms["m_mumu"], staging / "mass.png", sample_name)
        if scanned:
            from processors.report import plot_rankings

            plot_rankings(
                {f"beta = {beta:g}": values for beta, values in scanned.items()},
                staging / "beta_scan.png",
                f"{title}: relevance ranking against beta",
            )
        if interpretation is not None:
            from models.interpretation import format_interpretation
            from processors.constraints import format_check_table

            lines = [
                f"# {sample_name}",
                "",
                f"{len(features)} events, features {', '.join(names)}; "
                f"reference run {result.run_ids[reference]} of {config.runs}.",
                "",
                *format_interpretation(interpretation),
                *(format_check_table(checks) if checks else []),
            ]
            (staging / "report.md").write_text("\n".join(lines))
        torch.save(
            {
                "config": config.to_dict(),
                "features": names,
                "standardizer_mean": result.standardizer.mean,
                "standardizer_scale": result.standardizer.scale,
                "run_ids": result.run_ids,
                "state_dicts": [model.state_dict() for model in result.models],
            },
            staging / "models.pt",
        )

        options = {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        }
        options["hidden"] = list(args.hidden)
        options["beta_scan"] = list(args.beta_scan) if args.beta_scan else None
        summary = {
            "sample": sample_name,
            "sample_metadata": data.facts,
            "files": [
                {"source": info.source, "format": info.format, "entries": info.entries}
                for info in data.used
            ],
            "skipped_files": [
                {
                    "source": info.source,
                    "entries": info.entries,
                    "reason": "unreadable during processing"
                    if isinstance(info, SkippedChunk)
                    else "no events",
                }
                for info in data.skipped
            ],
            "n_events": next(iter(cutflow.values())),
            "n_selected": int(cutflow.get("finite features", features.shape[0])),
            "n_train": int(features.shape[0]),
            "max_train_events": args.max_train_events,
            "cutflow": [[step, count] for step, count in cutflow.items()],
            "features": names,
            "latent_dim": latent_dim,
            "runs": config.runs,
            "seeds": result.seeds,
            "relevance": ranked.tolist(),
            "relevance_mean": mean.tolist(),
            "relevance_std": std.tolist(),
            "relevance_threshold": args.relevance_threshold,
            "n_relevant": n_relevant.tolist(),
            "reference_run": result.run_ids[reference],
            "final_loss": {
                name: values[:, -1].tolist() for name, values in result.history.items()
            },
            "constraints": checks,
            "interpretation": interpretation,
            "beta_scan": None
            if scanned is None
            else [
                {
                    "beta": beta,
                    "relevance_mean": summarize_runs(values)[0].tolist(),
                    "relevance_std": summarize_runs(values)[1].tolist(),
                    "n_relevant": count_relevant(
                        values, args.relevance_threshold
                    ).tolist(),
                }
                for beta, values in scanned.items()
            ],
            "config": {"options": options, "training": config.to_dict()},
            "versions": package_versions(),
        }
        timing["outputs"] = time.perf_counter() - tick
        timing["total"] = time.perf_counter() - start
        summary["timing_seconds"] = timing
        with open(staging / "summary.json", "w") as stream:
            json.dump(summary, stream, indent=2)
        summary["written"] = [str(p) for p in write_outputs(staging, outdir)]
    except BaseException:
        # Interrupted or failed: drop the partial files, keep earlier outputs.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary, data, result


def report(summary: dict, reporter: Reporter) -> None:
    say = reporter.say
    say("")
    say(f"sample {summary['sample']}: cutflow")
    for step, count in summary["cutflow"]:
        say(f"  {step:<22} {count:>10}")
    for skipped in summary["skipped_files"]:
        say(f"  skipped {skipped['source']} ({skipped['entries']} events)")
    say(
        f"relevance over {summary['runs']} runs "
        f"(latent dim {summary['latent_dim']}, features {len(summary['features'])}):"
    )
    for rank, (m, s) in enumerate(
        zip(summary["relevance_mean"], summary["relevance_std"]), start=1
    ):
        say(f"  latent {rank}: {m:8.3f} ± {s:.3f}")
    counts = np.bincount(summary["n_relevant"])
    distribution = ", ".join(
        f"{n} latents in {c} runs" for n, c in enumerate(counts) if c
    )
    say(
        f"relevant latents (relevance > {summary['relevance_threshold']:g}): "
        f"{distribution}; most common count {int(np.argmax(counts))}"
    )
    interpretation = summary.get("interpretation")
    if interpretation:
        say("relevant latents of the reference run, as linear formulas:")
        for attribution in interpretation["attribution"]:
            say(f"  {attribution['formula']}")
        if not interpretation["attribution"]:
            say(
                "  none: no latent passed the relevance threshold, so no formula "
                "and no observable correlation was computed"
            )
        say("constraints found in the features:")
        for constraint in interpretation["constraints"] or [{"formula": "none"}]:
            say(f"  {constraint['formula']}")
        estimates = ", ".join(
            f"{e['estimator']} {e['value']:.2f}"
            for e in interpretation["dimension"]["estimates"]
        )
        say(f"intrinsic dimension: {estimates}")
    for entry in summary.get("beta_scan") or []:
        say(f"beta {entry['beta']:g}: relevant latents per run {entry['n_relevant']}")
    timing = summary["timing_seconds"]
    say(
        "time: "
        + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in timing.items())
    )
    outdir = Path(summary["written"][0]).parent if summary["written"] else None
    say(f"outputs in {outdir}/")


# The experiments of V. Sanz, "Learning symmetries in datasets",
# arXiv:2504.05174, with the paper's settings; "paper" is its stated result.
EXPERIMENTS = (
    {
        "name": "square",
        "sample": "toy-square",
        "options": ["--latent-dim", "4"],
        "runs": 20,
        "paper": "two latents relevant and comparable, two negligible",
        "implied": "no constraint: intrinsic dimension 2, embedding needs 2",
    },
    {
        "name": "circle",
        "sample": "toy-circle",
        "options": ["--latent-dim", "4"],
        "runs": 20,
        "paper": "one dominant latent, then a steep drop",
        "implied": "x1^2 + x2^2 = R^2: intrinsic dimension 1, but a circle "
        "needs 2 coordinates to embed without a cut",
    },
    {
        "name": "circle-linear",
        "sample": "toy-circle",
        "options": ["--latent-dim", "4", "--hidden", "linear"],
        "runs": 20,
        "paper": "a linear VAE uses one latent (argued, not shown)",
        "implied": "a linear decoder maps latents to a plane: it cannot draw "
        "a circle from one coordinate",
    },
    {
        "name": "ee",
        "sample": "pythia-ee-80gev",
        "options": ["--features", "p3", "--latent-dim", "6"],
        "runs": 20,
        "paper": "three relevant latents, correlated with p(mu-) - p(mu+)",
        "implied": "6 - 3 (momentum conservation) - 1 (|p| = sqrt(s)/2) = 2: "
        "a 2-sphere, which needs 3 coordinates to embed",
    },
    {
        "name": "pp",
        "sample": "pythia-pp-13tev",
        "options": ["--features", "p4", "--latent-dim", "8"],
        "runs": 15,
        "paper": "three relevant latents",
        "implied": "8 - 2 (pT balance) - 2 (massless muons) = 4 exactly; "
        "m_mumu near m_Z removes a fifth approximately, leaving 3",
    },
    {
        "name": "pp-narrow",
        "sample": "pythia-pp-13tev-narrow",
        "options": ["--features", "p4", "--latent-dim", "8"],
        "runs": 15,
        "paper": "(not in the paper: m_mumu window 86-96 GeV)",
        "implied": "as pp, with m_mumu nearly fixed",
    },
    {
        "name": "pp-wide",
        "sample": "pythia-pp-13tev-wide",
        "options": ["--features", "p4", "--latent-dim", "8"],
        "runs": 15,
        "paper": "(not in the paper: m_mumu window 40-200 GeV)",
        "implied": "as pp, with m_mumu free over a wide range",
    },
    {
        "name": "pp-beta0.03",
        "sample": "pythia-pp-13tev",
        "options": ["--features", "p4", "--latent-dim", "8", "--beta", "0.03"],
        "runs": 15,
        "paper": "(not in the paper: beta dependence)",
        "implied": "as pp",
    },
    {
        "name": "pp-beta1",
        "sample": "pythia-pp-13tev",
        "options": ["--features", "p4", "--latent-dim", "8", "--beta", "1"],
        "runs": 15,
        "paper": "(not in the paper: beta dependence)",
        "implied": "as pp",
    },
)


QUICK_RUNS = 4
QUICK_EPOCHS = 20


def build_reproduce_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analysis.py reproduce",
        description="Rerun the experiments of arXiv:2504.05174 and write a report.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 runs of 20 epochs per experiment instead of the paper's settings",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=30,
        help="epochs per run with the paper's settings",
    )
    parser.add_argument(
        "--outdir",
        type=Path,
        default=Path("results") / "reproduce",
        help="folder of the report and of one subfolder per experiment",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=[e["name"] for e in EXPERIMENTS],
        help="run only these experiments: " + ", ".join(e["name"] for e in EXPERIMENTS),
    )
    return parser


def _pair_differences(features, names):
    index = {name: i for i, name in enumerate(names)}
    return {
        f"{c}(mu-) - {c}(mu+)": features[:, index[f"{c}_mu-"]]
        - features[:, index[f"{c}_mu+"]]
        for c in ("px", "py", "pz")
    }


def _dimuon_observables(features, names):
    from processors.observables import compute_observables

    index = {name: i for i, name in enumerate(names)}
    columns = ("px", "py", "pz", "E")
    minus = np.column_stack([features[:, index[f"{c}_mu-"]] for c in columns])
    plus = np.column_stack([features[:, index[f"{c}_mu+"]] for c in columns])
    observables = compute_observables(minus, plus)
    chosen = {
        name: observables[name]
        for name in ("m_mumu", "pt_mumu", "y_mumu", "cos_theta_cs", "phi_cs")
    }
    # A latent can follow an angle through its sine or cosine, which the
    # monotonic fit against phi itself misses.
    chosen["cos_phi_cs"] = np.cos(observables["phi_cs"])
    chosen["sin_phi_cs"] = np.sin(observables["phi_cs"])
    return chosen


def _relevant_latents(result, data, run_position, n_relevant):
    run = result.run_ids[run_position]
    mu, _ = result.encode(data.features, run)
    order = np.argsort(-result.relevance[run_position])
    return mu[:, order[:n_relevant]], order


def reproduce_main(argv) -> int:
    from models.relevance import count_relevant, sort_decreasing
    from processors import report
    from samples.errors import InputError

    args = build_reproduce_parser().parse_args(argv)
    reporter = Reporter(enabled=not args.no_progress)
    experiments = [e for e in EXPERIMENTS if not args.only or e["name"] in args.only]
    outdir = args.outdir
    outdir.mkdir(parents=True, exist_ok=True)
    epochs = QUICK_EPOCHS if args.quick else args.epochs
    start = time.perf_counter()
    results = {}
    for experiment in experiments:
        runs = QUICK_RUNS if args.quick else experiment["runs"]
        options = [
            "--sample",
            experiment["sample"],
            *experiment["options"],
            "--runs",
            str(runs),
            "--epochs",
            str(epochs),
            "--outdir",
            str(outdir / experiment["name"]),
        ]
        if args.no_progress:
            options.append("--no-progress")
        reporter.say(f"experiment {experiment['name']}: {' '.join(options)}")
        tick = time.perf_counter()
        try:
            summary, data, result = run_analysis(
                build_parser().parse_args(options), reporter
            )
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        results[experiment["name"]] = (experiment, summary, data, result)
        reporter.say(
            f"  relevant latents per run: {summary['n_relevant']} "
            f"({time.perf_counter() - tick:.0f} s)"
        )

    lines = write_report(results, outdir, args, report, count_relevant, sort_decreasing)
    wall = time.perf_counter() - start
    lines.append(f"\nWall time of this reproduction: {wall:.0f} s.\n")
    (outdir / "report.md").write_text("\n".join(lines))
    reporter.say(f"report: {outdir / 'report.md'} ({wall:.0f} s)")
    return 0


def _share(summary, count) -> float:
    counts = np.asarray(summary["n_relevant"])
    return float(np.mean(counts == count))


def _mode(summary) -> int:
    return int(np.argmax(np.bincount(np.asarray(summary["n_relevant"]))))


def conclusions(results, args) -> list[str]:
    """State, per experiment, whether the paper's count is reproduced."""
    lines = ["## What reproduces", ""]
    if args.quick:
        lines += [
            "These are quick settings (fewer runs and epochs): the counts are a "
            "check that the pipeline works, not a comparison with the paper.",
            "",
        ]
    checks = {
        "square": (2, "two relevant latents"),
        "circle": (1, "one dominant latent"),
        "circle-linear": (1, "one latent"),
        "ee": (3, "three relevant latents"),
        "pp": (3, "three relevant latents"),
    }
    for name, (expected, claim) in checks.items():
        if name not in results:
            continue
        summary = results[name][1]
        share = _share(summary, expected)
        verdict = "reproduced" if share >= 0.9 else "not reproduced"
        lines.append(
            f"- {name}: paper {claim}; measured {expected} in "
            f"{100 * share:.0f}% of runs, most often {_mode(summary)}: "
            f"**{verdict}**."
        )
    if "pp-beta1" in results:
        share = _share(results["pp-beta1"][1], 3)
        lines.append(
            f"- pp at beta 1: 3 relevant latents in {100 * share:.0f}% of runs. "
            "The pp count depends on beta: a stronger KL term switches off the "
            "weakly used directions, so the paper's 3 is met only at larger beta."
        )
    lines.append("")
    return lines


def write_report(results, outdir, args, report, count_relevant, sort_decreasing):
    """Make the report's plots and return its markdown lines."""
    mode = (
        f"quick ({QUICK_RUNS} runs, {QUICK_EPOCHS} epochs)"
        if args.quick
        else "the paper's settings"
    )
    lines = [
        "# Reproduction of arXiv:2504.05174",
        "",
        f"Settings: {mode}. Relevance = std(mu) / mean(sigma) per latent; a "
        "latent counts as relevant above 1. Each experiment's own outputs "
        "(summary.json, histograms.root, plots) are in its folder.",
        "",
        *conclusions(results, args),
        "",
        "In the table, 'relevant latents: runs' reads 'n: k' for k runs with n "
        "relevant latents.",
        "",
        "| experiment | events | features | latent | runs | relevance mean±std "
        "per latent | relevant latents: runs | constraints imply | paper |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (experiment, summary, _, result) in results.items():
        lines.append(
            f"| {name} | {summary['n_selected']} | {len(summary['features'])} | "
            f"{summary['latent_dim']} | {summary['runs']} | "
            f"{report.relevance_cell(result.relevance)} | "
            f"{report.count_distribution(summary['n_relevant'])} | "
            f"{experiment['implied']} | {experiment['paper']} |"
        )
    lines.append("")

    lines += [
        "## Constraints found and intrinsic dimension",
        "",
        "Constraints found in each experiment's features without being told, "
        "next to standard estimators of the intrinsic dimension and the VAE's "
        "relevant-latent count. A constraint is exact when its spread is below "
        "1e-6 of what its terms would give without cancelling. It is "
        "approximate when its spread, or for a form with small integer "
        "coefficients its quartile width, is below 5% of its value.",
        "",
        "| experiment | constraints found | PCA 99% | TwoNN | MLE | active units "
        "| features − exact constraints | relevant latents (reference run) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (_, summary, _, _) in results.items():
        interpretation = summary.get("interpretation")
        if not interpretation:
            continue
        found = "<br>".join(c["formula"] for c in interpretation["constraints"])
        estimates = [
            f"{e['value']:.2f}" for e in interpretation["dimension"]["estimates"]
        ]
        dimension = interpretation["dimension"]
        lines.append(
            f"| {name} | {found or 'none'} | {' | '.join(estimates)} | "
            f"{dimension['implied_by_exact_constraints']} | "
            f"{dimension['relevant_latents']} |"
        )
    lines.append("")

    toys = {k: results[k] for k in ("square", "circle") if k in results}
    if toys:
        report.plot_rankings(
            {k: v[3].relevance for k, v in toys.items()},
            outdir / "toys_relevance.png",
            "toy models, 10^4 events",
        )
        planes = {}
        for key, (_, _, data, result) in toys.items():
            mu, _ = _relevant_latents(result, data, 0, 1)
            planes[key] = (data.features, mu[:, 0])
        report.plot_leading_latent_plane(planes, outdir / "toys_leading_latent.png")
        lines += [
            "## Toys",
            "",
            "![relevance of the toys](toys_relevance.png)",
            "",
            "![leading latent over the plane](toys_leading_latent.png)",
            "",
        ]
    if "circle" in results:
        _, summary, data, result = results["circle"]
        mu, _ = _relevant_latents(result, data, 0, 2)
        ranked = sort_decreasing(result.relevance[0])
        report.plot_latents_vs_targets(
            mu,
            {"x1": data.features[:, 0], "x2": data.features[:, 1]},
            ranked,
            outdir / "circle_latents.png",
            "circle: the two leading latents of run 0 against x1 and x2",
        )
        second = result.relevance.shape[0] and sort_decreasing(result.relevance)
        ratio = second[:, 1] / second[:, 0]
        lines += [
            "### Circle",
            "",
            "![circle latents](circle_latents.png)",
            "",
            f"Measured: the second latent's relevance is {ratio.mean():.2f} of "
            f"the first on average (min {ratio.min():.2f}, max "
            f"{ratio.max():.2f}). The paper reports one dominant latent. A "
            "circle has intrinsic dimension 1, but a continuous encoder cannot "
            "map it to one coordinate without a cut, so two latents that trace "
            "(cos, sin)-like shapes are what a smooth VAE can do; the plot "
            "shows the two leading latents against x1 and x2.",
            "",
        ]
    if "circle-linear" in results:
        _, summary, _, _ = results["circle-linear"]
        lines += [
            "### Linear VAE on the circle",
            "",
            f"Relevant latents per run: {summary['n_relevant']}. Relevance "
            f"mean: {', '.join(f'{v:.2f}' for v in summary['relevance_mean'])}. "
            "A linear decoder can only place points on a plane, so one latent "
            "cannot reproduce a circle; this measures what it does instead.",
            "",
        ]
    if "ee" in results:
        lines += _report_ee(results["ee"], outdir, report, sort_decreasing)
    for key in ("pp", "pp-narrow", "pp-wide", "pp-beta0.03", "pp-beta1"):
        if key in results:
            lines += _report_pp(key, results[key], outdir, report, sort_decreasing)
    return lines


def _joint_r2(latents, targets):
    """R^2 of a linear fit of each target on all ``latents`` together."""
    design = np.column_stack([latents, np.ones(len(latents))])
    values = []
    for target in targets.values():
        coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coefficients
        values.append(1.0 - residual.var() / target.var())
    return values


def _report_ee(entry, outdir, report, sort_decreasing):
    _, summary, data, result = entry
    differences = _pair_differences(data.features, data.names)
    matches = []
    spans = []
    for position in range(len(result.run_ids)):
        n = int(summary["n_relevant"][position])
        mu, _ = _relevant_latents(result, data, position, n)
        table = report.correlation_table(mu, differences)
        matches.append(n == 3 and report.one_to_one_match(table))
        spans.append(n == 3 and min(_joint_r2(mu, differences)) >= 0.9)
    mu, _ = _relevant_latents(result, data, 0, 6)
    ranked = sort_decreasing(result.relevance[0])
    report.plot_latents_vs_targets(
        mu,
        {n: data.features[:, i] for i, n in enumerate(data.names)},
        ranked,
        outdir / "ee_latents_vs_momenta.png",
        "e+e-: latent means of run 0 against the six momentum components",
    )
    report.plot_latents_vs_targets(
        mu,
        differences,
        ranked,
        outdir / "ee_latents_vs_differences.png",
        "e+e-: latent means of run 0 against p(mu-) - p(mu+)",
    )
    table = report.correlation_table(mu[:, :3], differences)
    joint = _joint_r2(mu[:, :3], differences)
    rows = [
        f"| mu{i + 1} | "
        + " | ".join(
            report.correlation_cell(table["pearson"][i, j], table["monotonic_r2"][i, j])
            for j in range(len(table["targets"]))
        )
        + " |"
        for i in range(3)
    ]
    fraction = np.mean(matches)
    return [
        "## e+e- -> mu+mu- at 80 GeV",
        "",
        f"Runs with exactly 3 relevant latents that each correlate with a "
        f"distinct component of p(mu-) - p(mu+) (|r| >= 0.9 or monotonic-fit "
        f"R^2 >= 0.9): {int(np.sum(matches))} of {len(matches)} "
        f"({100 * fraction:.0f}%).",
        "",
        f"Runs with exactly 3 relevant latents that together predict every "
        f"component of p(mu-) - p(mu+) with linear-regression R^2 >= 0.9: "
        f"{int(np.sum(spans))} of {len(spans)}. For run 0 the R^2 are "
        + ", ".join(f"{v:.3f}" for v in joint)
        + ". The three latents span the three differences. But the process is "
        "symmetric under rotations about the beam, and the standardized "
        "features have equal variances. So nothing in the data fixes which "
        "direction inside that span each latent takes, and a single latent "
        "need not follow a single component.",
        "",
        "Run 0, Pearson r / monotonic-fit R^2 of the three leading latents:",
        "",
        "| latent | " + " | ".join(table["targets"]) + " |",
        "|---|---|---|---|",
        *rows,
        "",
        "![latents vs momenta](ee_latents_vs_momenta.png)",
        "",
        "![latents vs differences](ee_latents_vs_differences.png)",
        "",
    ]


def _report_pp(key, entry, outdir, report, sort_decreasing):
    _, summary, data, result = entry
    observables = _dimuon_observables(data.features, data.names)
    n = max(int(np.median(summary["n_relevant"])), 1)
    mu, _ = _relevant_latents(result, data, 0, n)
    table = report.correlation_table(mu, observables)
    rows = [
        f"| mu{i + 1} | "
        + " | ".join(
            report.correlation_cell(table["pearson"][i, j], table["monotonic_r2"][i, j])
            for j in range(len(table["targets"]))
        )
        + " |"
        for i in range(n)
    ]
    lines = [
        f"## pp -> gamma*/Z -> mu+mu- at 13 TeV ({key}, beta "
        f"{summary['config']['training']['beta']:g})",
        "",
        f"Relevant latents per run: {summary['n_relevant']}; relevance mean "
        f"{', '.join(f'{v:.2f}' for v in summary['relevance_mean'])}.",
        "",
        f"Run 0, Pearson r / monotonic-fit R^2 of its {n} leading latents "
        "against pair observables (Collins-Soper angles of the mu-):",
        "",
        "| latent | " + " | ".join(table["targets"]) + " |",
        "|---|" + "---|" * len(table["targets"]),
        *rows,
        "",
    ]
    if key == "pp":
        report.plot_latents_vs_targets(
            mu,
            observables,
            sort_decreasing(result.relevance[0]),
            outdir / "pp_latents_vs_observables.png",
            "pp: leading latents of run 0 against pair observables",
        )
        lines += ["![pp latents](pp_latents_vs_observables.png)", ""]
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["reproduce"]:
        return reproduce_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    reporter = Reporter(enabled=not args.no_progress)
    if args.list_samples:
        list_samples()
        return 0

    from models.training import TrainingDataError
    from processors.executors import ExecutorError, job_script
    from samples.errors import InputError

    if args.print_job_script:
        if not args.cluster:
            parser.error("--print-job-script needs --cluster")
        try:
            print(job_script(args.cluster, **cluster_options(args)))
        except ExecutorError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if args.observable and args.no_interpretation:
        parser.error("--observable needs the interpretation: drop --no-interpretation")
    names = [split_observable(text)[0] for text in args.observable]
    if len(set(names)) < len(names):
        parser.error(f"--observable names must differ, got {', '.join(names)}")
    if args.executor != "dask" and (
        args.scheduler or args.cluster or args.distribute_training
    ):
        parser.error(
            "--scheduler, --cluster and --distribute-training need --executor dask"
        )

    try:
        summary, _, _ = run_analysis(args, reporter)
    except (
        InputError,
        TrainingDataError,
        UsageError,
        ProcessingError,
        ExecutorError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no outputs were written", file=sys.stderr)
        return 130
    report(summary, reporter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
