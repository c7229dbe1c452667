"""Find the constraints of dimuon events from the latent space of VAEs.

Run ``python analysis.py`` for the default analysis of the CMS 2010 dimuon
sample, or ``python analysis.py --help`` for every option. The pipeline is:
fileset -> coffea processor (selection, features, constraint histograms) ->
VAE training over several seeds -> relevance and latent histograms -> plots
and ``summary.json`` in ``results/<sample>/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import time
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


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        msg = f"expected a positive integer, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    from models.vae import ACTIVATIONS
    from processors.features import FEATURE_SETS

    parser = argparse.ArgumentParser(
        prog="analysis.py",
        description=(
            "Train VAEs on dimuon events and rank their latent directions by "
            "relevance to find the constraints of the data."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
        choices=("iterative", "futures"),
        default="iterative",
        help="coffea executor that runs the processor over chunks",
    )
    proc.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="processes for --executor futures",
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
        "--beta", type=float, default=0.1, help="weight of the KL term in the loss"
    )
    model.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    model.add_argument(
        "--batch-size", type=positive_int, default=256, help="events per minibatch"
    )
    model.add_argument(
        "--hidden",
        type=parse_hidden,
        default=(64, 64),
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
        type=float,
        default=1.0,
        help="a latent counts as relevant when its relevance exceeds this",
    )
    model.add_argument(
        "--min-events",
        type=positive_int,
        default=100,
        help="refuse to train on fewer selected events than this",
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
        reporter.warn(f"skipped {info.source}: tree {info.treename!r} has 0 events")
    if not used:
        msg = "no events to process: every input file is empty"
        raise InputError(msg)
    return runnable, used, skipped


def make_runner(args, reporter):
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    status = not args.no_progress
    if args.executor == "futures":
        executor = processor.FuturesExecutor(workers=args.workers, status=status)
    else:
        executor = processor.IterativeExecutor(status=status)
    return processor.Runner(
        executor=executor,
        pre_executor=processor.IterativeExecutor(status=False),
        schema=BaseSchema,
        chunksize=args.chunksize,
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


def run_processor(runnable, used, args, feature_set, reporter):
    from processors.dimuon import DimuonProcessor

    runner = make_runner(args, reporter)
    chunks = limit_chunks(runner.preprocess(runnable), args.max_events)
    expected = sum(c.entrystop - c.entrystart for c in chunks)
    try:
        output = runner.run(chunks, DimuonProcessor(feature_set))
    except Exception as error:
        msg = f"processing failed: {error}"
        raise ProcessingError(msg) from error
    return output["out"], expected


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
    for dataset_output in output.values():
        for step, count in dataset_output["cutflow"].items():
            cutflow[step] += count
        for name, h in dataset_output["histograms"].items():
            histograms[name] += h
        for name, m in dataset_output["moments"].items():
            moments[name] = moments[name] + m if name in moments else m
        chunks.update(dataset_output["features"])
    features = order_features(chunks, [info.path for info in used])
    if features.size == 0:
        features = empty_features(feature_set)
    return cutflow, histograms, moments, features


def root_key(name: str) -> str:
    return name.replace("-", "m").replace("+", "p")


def typical_run(relevance: np.ndarray) -> int:
    """Return the index of the run whose sorted log-relevance is closest to the mean."""
    from models.relevance import sort_decreasing

    logs = np.log(np.clip(sort_decreasing(relevance), 1e-12, None))
    distance = np.square(logs - logs.mean(axis=0)).sum(axis=1)
    return int(np.argmin(distance))


def write_outputs(staging: Path, outdir: Path) -> list[Path]:
    """Move every file from ``staging`` into ``outdir``, replacing old ones."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(staging.iterdir()):
        target = outdir / path.name
        os.replace(path, target)
        written.append(target)
    staging.rmdir()
    return written


@dataclasses.dataclass
class EventData:
    """What the first stage hands to training: features and their provenance."""

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


def load_events(args, reporter) -> EventData:
    """Resolve the input and run the processor, or generate a toy sample."""
    from processors.constraints import CHECKS, INITIAL_STATE_CHECKS
    from processors.features import feature_names
    from samples.registry import get_sample

    if args.sample and not args.files:
        sample = get_sample(args.sample)
        if sample.is_toy:
            if args.features:
                msg = f"--features does not apply to the toy sample {sample.name}"
                raise UsageError(msg)
            return load_toy(sample, args)

    fileset, sample_name, default_features, facts = resolve_input(args)
    feature_set = args.features or default_features
    runnable, used, skipped = prepare_input(fileset, args.treename, reporter)
    output, expected = run_processor(runnable, used, args, feature_set, reporter)
    cutflow, histograms, moments, features = collect(output, used, feature_set)
    if cutflow["events read"] != expected:
        msg = (
            f"the processor read {cutflow['events read']} events but the chunks "
            f"hold {expected}; some chunks were lost or counted twice"
        )
        raise ProcessingError(msg)
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


def run_analysis(args, reporter) -> dict:
    import torch
    import uproot

    from models.relevance import count_relevant, sort_decreasing, summarize_runs
    from models.training import TrainingConfig, train
    from processors import plots
    from processors.constraints import check_unit
    from processors.histograms import latent_feature_histograms, relevance_histograms

    timing = {}
    start = time.perf_counter()
    data = load_events(args, reporter)
    timing["events"] = time.perf_counter() - start
    names, features, cutflow = data.names, data.features, data.cutflow
    sample_name = data.sample
    outdir = args.outdir or Path("results") / sample_name

    latent_dim = args.latent_dim or len(names)
    config = TrainingConfig(
        latent_dim=latent_dim,
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
    tick = time.perf_counter()
    bar = reporter.bar(config.runs * config.epochs, "epoch", "training")

    def on_epoch(run_epochs, loss):
        bar.update(run_epochs)
        bar.set_postfix(loss=f"{loss:.3f}")

    try:
        result = train(features, config, on_epoch=on_epoch)
    finally:
        bar.close()
    timing["training"] = time.perf_counter() - tick

    tick = time.perf_counter()
    relevance = result.relevance
    ranked = sort_decreasing(relevance)
    mean, std = summarize_runs(relevance)
    n_relevant = count_relevant(relevance, args.relevance_threshold)
    reference = typical_run(relevance)
    mu, _ = result.encode(features, result.run_ids[reference])
    order = np.argsort(-relevance[reference])
    latent_hists = latent_feature_histograms(mu, features, names, order)

    outdir_parent = outdir.resolve().parent
    outdir_parent.mkdir(parents=True, exist_ok=True)
    staging = outdir_parent / f".{outdir.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()

    check_names = data.check_names
    histograms, moments = data.histograms, data.moments
    with uproot.recreate(staging / "histograms.root") as root_file:
        for key, h in relevance_histograms(relevance).items():
            root_file[key] = h
        for (rank, name), h in latent_hists.items():
            root_file[f"latent_vs_feature/mu{rank + 1}_vs_{root_key(name)}"] = h
        for name in check_names:
            root_file[f"constraints/{root_key(name)}"] = histograms[name]

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
    summary = {
        "sample": sample_name,
        "sample_metadata": data.facts,
        "files": [
            {"source": info.source, "format": info.format, "entries": info.entries}
            for info in data.used
        ],
        "skipped_files": [
            {"source": info.source, "entries": info.entries, "reason": "no events"}
            for info in data.skipped
        ],
        "n_events": next(iter(cutflow.values())),
        "n_selected": int(features.shape[0]),
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
        "constraints": {
            name: moments[name].to_dict(check_unit(name))
            for name in check_names
            if name in moments
        },
        "config": {"options": options, "training": config.to_dict()},
        "versions": package_versions(),
    }
    timing["outputs"] = time.perf_counter() - tick
    timing["total"] = time.perf_counter() - start
    summary["timing_seconds"] = timing
    with open(staging / "summary.json", "w") as stream:
        json.dump(summary, stream, indent=2)
    summary["written"] = [str(p) for p in write_outputs(staging, outdir)]
    return summary


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
        f"{distribution}"
    )
    timing = summary["timing_seconds"]
    say(
        "time: "
        + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in timing.items())
    )
    outdir = Path(summary["written"][0]).parent if summary["written"] else None
    say(f"outputs in {outdir}/")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    reporter = Reporter(enabled=not args.no_progress)
    if args.list_samples:
        list_samples()
        return 0

    from models.training import TrainingDataError
    from samples.errors import InputError

    try:
        summary = run_analysis(args, reporter)
    except (InputError, TrainingDataError, UsageError, ProcessingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no outputs were written", file=sys.stderr)
        return 130
    report(summary, reporter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
