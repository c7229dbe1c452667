"""Training of VAE runs, together as an ensemble or one after another.

Each run k uses seed ``seed + k`` for its own :class:`torch.Generator`, which
draws, in this order, the run's initial weights, then for every epoch the
event permutation and for every minibatch the reparameterization noise. The
draws of run k are therefore the same whether it trains alone or beside other
runs, and whether the runs train as one ensemble or sequentially.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from models.relevance import relevance as relevance_from_outputs
from models.vae import EnsembleVAE, vae_loss

EVALUATION_BATCH = 65_536


class TrainingDataError(ValueError):
    """The feature matrix cannot be used for training."""


@dataclass
class TrainingConfig:
    """Settings of one analysis's training runs.

    Defaults follow V. Sanz, arXiv:2504.05174 where it states them (beta 0.1,
    Adam with learning rate 1e-3, 15 to 30 epochs); the paper does not give
    widths, activation or batch size, and the defaults here are our choice.
    """

    latent_dim: int = 8
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    beta: float = 0.1
    runs: int = 10
    seed: int = 0
    ensemble: bool = True
    min_events: int = 100

    def to_dict(self) -> dict:
        values = asdict(self)
        values["hidden"] = list(self.hidden)
        return values


@dataclass
class Standardizer:
    """Per-feature shift and scale: ``(x - mean) / scale``.

    A constant feature (standard deviation 0) gets scale 1, so it maps to 0
    instead of NaN.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Standardizer:
        constant = np.ptp(features, axis=0) == 0
        # The float64 mean of a constant column can miss the value by one
        # rounding step, which would leave a tiny nonzero std as the scale.
        mean = np.where(constant, features[0], features.mean(axis=0))
        scale = np.where(constant, 1.0, features.std(axis=0))
        return cls(mean=mean, scale=scale)

    def transform(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.scale


@dataclass
class TrainingResult:
    """Trained runs and their latent statistics on all events.

    Arrays indexed by run have shape ``(runs, latent_dim)`` in the order of
    ``run_ids``, with latents in the model's own order (not sorted).
    ``history`` maps each loss term to an array ``(runs, epochs)`` of epoch
    means.
    """

    config: TrainingConfig
    run_ids: list[int]
    standardizer: Standardizer
    models: list[EnsembleVAE]
    relevance: np.ndarray
    mu_mean: np.ndarray
    mu_variance: np.ndarray
    sigma_mean: np.ndarray
    history: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return [self.config.seed + k for k in self.run_ids]

    def _locate(self, run: int) -> tuple[EnsembleVAE, int]:
        position = self.run_ids.index(run)
        for model in self.models:
            if position < model.runs:
                return model, position
            position -= model.runs
        msg = f"run {run} has no model"
        raise IndexError(msg)

    def encode(self, features: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the posterior means and widths of ``run`` for ``features``.

        ``features`` are in the original units; both outputs have shape
        ``(n_events, latent_dim)``.
        """
        model, index = self._locate(run)
        x = _to_tensor(self.standardizer.transform(features))
        mus, sigmas = [], []
        with torch.no_grad():
            for start in range(0, len(x), EVALUATION_BATCH):
                batch = x[start : start + EVALUATION_BATCH]
                batch = batch.unsqueeze(0).expand(model.runs, -1, -1)
                mu, logvar = model.encode(batch)
                mus.append(mu[index].numpy())
                sigmas.append(torch.exp(0.5 * logvar[index]).numpy())
        return np.concatenate(mus), np.concatenate(sigmas)


def merge_results(results: Sequence[TrainingResult]) -> TrainingResult:
    """Join results of disjoint run batches trained on the same features.

    Runs keep the order of ``results``; the standardization is the first
    result's, which equals the others' because it depends on the features only.
    """
    first = results[0]
    return TrainingResult(
        config=first.config,
        run_ids=[run for r in results for run in r.run_ids],
        standardizer=first.standardizer,
        models=[model for r in results for model in r.models],
        relevance=np.concatenate([r.relevance for r in results]),
        mu_mean=np.concatenate([r.mu_mean for r in results]),
        mu_variance=np.concatenate([r.mu_variance for r in results]),
        sigma_mean=np.concatenate([r.sigma_mean for r in results]),
        history={
            name: np.concatenate([r.history[name] for r in results])
            for name in first.history
        },
    )


def split_runs(run_ids: Sequence[int], n_batches: int) -> list[list[int]]:
    """Split ``run_ids`` into at most ``n_batches`` contiguous batches."""
    n_batches = max(1, min(n_batches, len(run_ids)))
    batches = np.array_split(np.asarray(run_ids, dtype=int), n_batches)
    return [[int(run) for run in batch] for batch in batches]


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def check_features(features: np.ndarray, min_events: int) -> None:
    """Raise :class:`TrainingDataError` if ``features`` cannot be trained on."""
    if features.ndim != 2 or features.shape[1] == 0:
        msg = f"expected a 2D feature matrix, got shape {features.shape}"
        raise TrainingDataError(msg)
    n_events = features.shape[0]
    if n_events < min_events:
        msg = (
            f"too few selected events to train: {n_events}, need at least "
            f"{min_events}. Add files, loosen the selection or lower "
            "--min-events."
        )
        raise TrainingDataError(msg)
    if not np.isfinite(features).all():
        msg = "the feature matrix contains NaN or infinite values"
        raise TrainingDataError(msg)


def train(
    features: np.ndarray,
    config: TrainingConfig,
    run_ids: Sequence[int] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainingResult:
    """Train the runs ``run_ids`` (default ``range(config.runs)``) on ``features``.

    With ``config.ensemble`` the runs train together as one
    :class:`~models.vae.EnsembleVAE`; otherwise one after another, each as an
    ensemble of one (the baseline). Both give each run the same random draws.
    ``on_epoch(run_epochs, mean_loss)`` is called after every epoch with the
    number of run-epochs it completed and the mean loss over those runs.
    """
    features = np.asarray(features, dtype=np.float64)
    check_features(features, config.min_events)
    run_ids = list(range(config.runs) if run_ids is None else run_ids)
    standardizer = Standardizer.fit(features)
    x = _to_tensor(standardizer.transform(features))

    groups = [run_ids] if config.ensemble else [[k] for k in run_ids]
    models, histories = [], []
    for group in groups:
        model, history = _train_group(x, config, group, on_epoch)
        models.append(model)
        histories.append(history)
    history = {
        name: np.concatenate([h[name] for h in histories], axis=0)
        for name in histories[0]
    }

    moments = [_latent_moments(model, x) for model in models]
    mu_mean = np.concatenate([m[0] for m in moments])
    mu_variance = np.concatenate([m[1] for m in moments])
    sigma_mean = np.concatenate([m[2] for m in moments])
    return TrainingResult(
        config=config,
        run_ids=run_ids,
        standardizer=standardizer,
        models=models,
        relevance=np.sqrt(mu_variance) / sigma_mean,
        mu_mean=mu_mean,
        mu_variance=mu_variance,
        sigma_mean=sigma_mean,
        history=history,
    )


def initial_model(config: TrainingConfig, n_features: int, run_ids: Sequence[int]):
    """Build an ensemble of ``run_ids`` and initialise each from its own seed.

    Returns the model and the per-run generators, positioned after the
    initial draws.
    """
    model = EnsembleVAE(
        len(run_ids),
        n_features,
        config.latent_dim,
        hidden=tuple(config.hidden),
        activation=config.activation,
    )
    generators = []
    for position, run in enumerate(run_ids):
        generator = torch.Generator().manual_seed(config.seed + run)
        model.reset_run(position, generator)
        generators.append(generator)
    return model, generators


def _train_group(x, config, run_ids, on_epoch):
    n_events, n_features = x.shape
    model, generators = initial_model(config, n_features, run_ids)
    # The fused kernel updates each stacked parameter in one pass instead of
    # a handful of tensor operations; the update stays elementwise, so runs
    # remain independent.
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, fused=True
    )
    n_batches = math.ceil(n_events / config.batch_size)
    history = {
        name: np.zeros((len(run_ids), config.epochs))
        for name in ("loss", "reconstruction", "kl")
    }

    for epoch in range(config.epochs):
        order = torch.stack([torch.randperm(n_events, generator=g) for g in generators])
        sums = {
            name: torch.zeros(len(run_ids), dtype=torch.float64) for name in history
        }
        for batch in range(n_batches):
            index = order[
                :, batch * config.batch_size : (batch + 1) * config.batch_size
            ]
            inputs = x[index]
            noise = torch.stack(
                [
                    torch.randn(index.shape[1], config.latent_dim, generator=g)
                    for g in generators
                ]
            )
            reconstruction, mu, logvar = model(inputs, noise)
            terms = vae_loss(inputs, reconstruction, mu, logvar, config.beta)

            optimizer.zero_grad(set_to_none=True)
            terms["loss"].sum().backward()
            optimizer.step()

            weight = index.shape[1] / n_events
            for name in sums:
                sums[name] += terms[name].detach().double() * weight
        for name, values in history.items():
            values[:, epoch] = sums[name].numpy()
        if on_epoch is not None:
            on_epoch(len(run_ids), float(sums["loss"].mean()))
    return model, history


def _latent_moments(model, x):
    """Return per-run mean and variance of mu and mean sigma over all events."""
    runs = model.runs
    latent = model.latent_dim
    total = torch.zeros(runs, latent, dtype=torch.float64)
    total_sq = torch.zeros(runs, latent, dtype=torch.float64)
    total_sigma = torch.zeros(runs, latent, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, len(x), EVALUATION_BATCH):
            batch = (
                x[start : start + EVALUATION_BATCH].unsqueeze(0).expand(runs, -1, -1)
            )
            mu, logvar = model.encode(batch)
            mu = mu.double()
            total += mu.sum(1)
            total_sq += mu.square().sum(1)
            total_sigma += torch.exp(0.5 * logvar.double()).sum(1)
    n = len(x)
    mean = total / n
    variance = (total_sq / n - mean.square()).clamp_min(0.0)
    return mean.numpy(), variance.numpy(), (total_sigma / n).numpy()


__all__ = [
    "TrainingConfig",
    "TrainingDataError",
    "TrainingResult",
    "initial_model",
    "merge_results",
    "relevance_from_outputs",
    "split_runs",
    "train",
]
