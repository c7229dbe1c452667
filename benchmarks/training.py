"""Time the ensemble training against the sequential loop, same settings.

Usage: python benchmarks/training.py [--quick] [--profile]

Both paths train the same runs from the same seeds on the same generated
features (10^4 events x 8 features by default). The last line reads
``ensemble speedup: N.Nx``, the sequential wall time over the ensemble's.
With ``--profile`` it first prints how much of an ensemble minibatch the
matrix products take, measured with torch.profiler over two epochs.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.training import TrainingConfig, train


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


MATRIX_PRODUCTS = ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm")


def profile_ensemble(features: np.ndarray, runs: int) -> None:
    """Print the share of the ensemble's CPU time spent in matrix products."""
    from torch.profiler import ProfilerActivity, profile

    epochs = 2
    config = TrainingConfig(latent_dim=features.shape[1], runs=runs, epochs=epochs)
    train(features, config)  # warm-up: thread pools and allocator
    with profile(activities=[ProfilerActivity.CPU]) as recording:
        train(features, config)
    events = recording.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    products = sum(
        event.self_cpu_time_total for event in events if event.key in MATRIX_PRODUCTS
    )
    batches = epochs * -(-features.shape[0] // config.batch_size)
    print(
        f"ensemble minibatch: {total / batches / 1e3:.2f} ms of CPU time under the "
        f"profiler, {products / batches / 1e3:.2f} ms ({100 * products / total:.0f}%) "
        "in matrix products"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs, not 30")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print the share of matrix products in an ensemble minibatch",
    )
    args = parser.parse_args()
    epochs = 5 if args.quick else 30

    rng = np.random.default_rng(0)
    features = rng.normal(size=(args.events, args.features))
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"python {platform.python_version()}, torch {torch.__version__}"
    )
    print(
        f"settings: {args.runs} runs x {epochs} epochs, {args.events} events x "
        f"{args.features} features, batch 256, hidden 64,64"
    )
    if args.profile:
        profile_ensemble(features, args.runs)
    timings = {}
    results = {}
    for ensemble in (False, True):
        config = TrainingConfig(
            latent_dim=args.features, runs=args.runs, epochs=epochs, ensemble=ensemble
        )
        label = "ensemble" if ensemble else "sequential"
        start = time.perf_counter()
        results[label] = train(features, config)
        timings[label] = time.perf_counter() - start
        print(f"{label}: {timings[label]:.2f} s, peak RSS {peak_rss_mib():.0f} MiB")

    difference = np.abs(
        results["ensemble"].relevance / results["sequential"].relevance - 1
    ).max()
    print(f"max relative relevance difference: {difference:.2e}")
    print(f"ensemble speedup: {timings['sequential'] / timings['ensemble']:.1f}x")


if __name__ == "__main__":
    main()
