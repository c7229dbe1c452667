"""A fully connected VAE trained as an ensemble of independent runs.

Every layer stores the weights of all runs stacked along a leading axis and
applies them with one batched matrix product, so R runs train in one pass
while staying mathematically independent: the loss is a sum of per-run terms,
no parameter is shared, and Adam's update is elementwise. Each run's weights
are drawn from that run's own generator, so run k starts from the same
weights whether it trains alone or beside others.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}

# exp(+-20) is far outside any width the data need and keeps exp() finite.
LOGVAR_MIN = -20.0
LOGVAR_MAX = 20.0


class EnsembleLinear(nn.Module):
    """``y[r] = x[r] @ weight[r] + bias[r]`` for every run ``r`` at once.

    Input and output have shape ``(runs, batch, features)``.
    """

    def __init__(self, runs: int, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(runs, n_in, n_out))
        self.bias = nn.Parameter(torch.empty(runs, 1, n_out))

    def reset_run(self, run: int, generator: torch.Generator) -> None:
        """Draw run ``run``'s weights and bias from ``generator``.

        Both are uniform in ``[-1/sqrt(n_in), 1/sqrt(n_in)]``, the bound that
        :class:`torch.nn.Linear` uses by default.
        """
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            # Draw into a fresh (out, in) tensor so the draw order matches a
            # single run's layer whatever the ensemble size.
            weight = torch.empty(self.weight.shape[2], self.weight.shape[1])
            weight.uniform_(-bound, bound, generator=generator)
            self.weight[run].copy_(weight.T)
            self.bias[run, 0].uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _activation(name: str) -> nn.Module:
    # ReLU may overwrite the output of the linear layer before it, whose
    # gradient does not need that output, which saves allocating and
    # filling a fresh (runs, batch, width) tensor per layer and minibatch.
    if name == "relu":
        return nn.ReLU(inplace=True)
    return ACTIVATIONS[name]()


def _stack(runs, sizes, activation):
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(EnsembleLinear(runs, n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


class EnsembleVAE(nn.Module):
    """R independent VAEs with the same architecture, evaluated together.

    Parameters
    ----------
    runs
        Number of independent models.
    n_features
        Input (and reconstruction) size.
    latent_dim
        Number of latent directions.
    hidden
        Widths of the hidden layers of the encoder; the decoder mirrors them.
        An empty tuple gives a linear encoder and a linear decoder.
    activation
        Name in :data:`ACTIVATIONS`, applied after every hidden layer.
    """

    def __init__(
        self,
        runs: int,
        n_features: int,
        latent_dim: int,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "relu",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            known = ", ".join(ACTIVATIONS)
            msg = f"unknown activation {activation!r}; choose one of {known}"
            raise ValueError(msg)
        self.runs = runs
        self.latent_dim = latent_dim
        self.encoder = _stack(runs, (n_features, *hidden, 2 * latent_dim), activation)
        self.decoder = _stack(
            runs, (latent_dim, *reversed(hidden), n_features), activation
        )

    def reset_run(self, run: int, generator: torch.Generator) -> None:
        """Initialise every layer of run ``run`` from ``generator``, in order."""
        for module in (*self.encoder, *self.decoder):
            if isinstance(module, EnsembleLinear):
                module.reset_run(run, generator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the posterior mean and clamped log-variance, each ``(R, B, L)``."""
        out = self.encoder(x)
        mu, logvar = out[..., : self.latent_dim], out[..., self.latent_dim :]
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent points ``(R, B, L)`` to reconstructions ``(R, B, F)``."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu, logvar, noise):
        """Return ``mu + sigma * noise`` with ``sigma = exp(logvar / 2)``."""
        return mu + torch.exp(0.5 * logvar) * noise

    def forward(self, x, noise):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, noise)
        return self.decode(z), mu, logvar


def vae_loss(x, reconstruction, mu, logvar, beta: float):
    """Return the per-run loss terms, each a tensor of shape ``(runs,)``.

    ``reconstruction`` is the mean over events of the squared Euclidean
    distance between input and output; ``kl`` is the mean over events of
    ``sum_j -1/2 (1 + logvar_j - mu_j**2 - exp(logvar_j))``, the divergence
    from a standard normal prior; ``loss = reconstruction + beta * kl``.
    """
    reconstruction_error = (x - reconstruction).square().sum(-1).mean(-1)
    kl = (-0.5 * (1.0 + logvar - mu.square() - logvar.exp())).sum(-1).mean(-1)
    return {
        "loss": reconstruction_error + beta * kl,
        "reconstruction": reconstruction_error,
        "kl": kl,
    }
