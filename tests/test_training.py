"""Ensemble training against single runs trained alone."""

import numpy as np
import torch

from models.training import TrainingConfig, initial_model, train


def _features():
    rng = np.random.default_rng(7)
    angle = rng.uniform(0, 2 * np.pi, 400)
    return np.column_stack([np.cos(angle), np.sin(angle), rng.normal(size=400)])


def test_run_starts_from_same_weights():
    config = TrainingConfig(latent_dim=3, hidden=(8,), runs=20, seed=5)
    ensemble, _ = initial_model(config, 3, list(range(20)))
    alone, _ = initial_model(config, 3, [13])
    for big, small in zip(ensemble.parameters(), alone.parameters()):
        assert torch.equal(big[13], small[0])


def test_run_alone_matches_ensemble_relevance():
    features = _features()
    config = TrainingConfig(
        latent_dim=3, hidden=(8,), runs=20, epochs=3, batch_size=64, seed=5
    )
    ensemble = train(features, config)
    alone = train(features, config, run_ids=[13])
    relative = np.abs(alone.relevance[0] / ensemble.relevance[13] - 1)
    assert relative.max() < 1e-3


def test_sequential_matches_ensemble():
    features = _features()
    config = TrainingConfig(latent_dim=3, hidden=(8,), runs=3, epochs=2, seed=1)
    sequential = TrainingConfig(**{**config.__dict__, "ensemble": False})
    together = train(features, config)
    one_by_one = train(features, sequential)
    np.testing.assert_allclose(one_by_one.relevance, together.relevance, rtol=1e-3)


def test_fixed_seed_repeats_exactly():
    features = _features()
    config = TrainingConfig(latent_dim=3, hidden=(8,), runs=2, epochs=2, seed=3)
    first = train(features, config).relevance
    second = train(features, config).relevance
    assert np.array_equal(first, second)


def test_other_seed_changes_relevance():
    features = _features()
    config = TrainingConfig(latent_dim=3, hidden=(8,), runs=1, epochs=2, seed=3)
    other = TrainingConfig(**{**config.__dict__, "seed": 4})
    assert not np.array_equal(
        train(features, config).relevance, train(features, other).relevance
    )
