"""Hand-computed physics values: constraint checks, pair selection, features,
relevance, standardization and the VAE loss."""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest
import torch
import vector

from models.relevance import count_relevant, relevance, sort_decreasing, summarize_runs
from models.training import Standardizer
from models.vae import vae_loss
from processors.constraints import compute_checks
from processors.features import feature_matrix, feature_names
from processors.selection import select_pair

vector.register_awkward()

Z_MASS = 91.1876  # GeV
MUON_MASS = 0.1056583755  # GeV


def momenta(rows):
    """Build a flat Momentum4D array from ``(px, py, pz, E)`` rows in GeV."""
    columns = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return ak.zip(
        {
            "px": columns[:, 0],
            "py": columns[:, 1],
            "pz": columns[:, 2],
            "E": columns[:, 3],
        },
        with_name="Momentum4D",
    )


def muon_energy(px, py, pz):
    return math.sqrt(px * px + py * py + pz * pz + MUON_MASS * MUON_MASS)


def muon_events(events):
    """Build jagged muons from per-event lists of ``(px, py, pz, charge)``.

    Each muon gets the energy of an on-shell muon.
    """
    fields = {"px": [], "py": [], "pz": [], "E": [], "charge": []}
    for event in events:
        fields["px"].append([float(m[0]) for m in event])
        fields["py"].append([float(m[1]) for m in event])
        fields["pz"].append([float(m[2]) for m in event])
        fields["E"].append([muon_energy(*m[:3]) for m in event])
        fields["charge"].append([int(m[3]) for m in event])
    arrays = {
        name: ak.values_astype(ak.Array(values), np.float64)
        for name, values in fields.items()
        if name != "charge"
    }
    arrays["charge"] = ak.values_astype(ak.Array(fields["charge"]), np.int32)
    return ak.zip(arrays, with_name="Momentum4D")


def z_decay_at_rest(axis: int):
    """Return (mu-, mu+) of a Z at rest decaying back to back along ``axis``."""
    energy = Z_MASS / 2
    momentum = math.sqrt(energy * energy - MUON_MASS * MUON_MASS)
    minus = [0.0, 0.0, 0.0, energy]
    plus = [0.0, 0.0, 0.0, energy]
    minus[axis] = momentum
    plus[axis] = -momentum
    return momenta([minus]), momenta([plus])


# Constraint checks


@pytest.mark.parametrize("axis", [0, 1, 2], ids=["x", "y", "z"])
def test_checks_z_at_rest(axis):
    mu_minus, mu_plus = z_decay_at_rest(axis)

    checks = compute_checks(mu_minus, mu_plus)

    assert checks["px_sum"][0] == 0.0
    assert checks["py_sum"][0] == 0.0
    assert checks["pz_sum"][0] == 0.0
    assert checks["E_sum"][0] == pytest.approx(Z_MASS, abs=1e-12)
    assert checks["m_mumu"][0] == pytest.approx(Z_MASS, abs=1e-9)
    assert checks["pt_mumu"][0] == 0.0


@pytest.mark.parametrize("axis", [0, 1, 2], ids=["x", "y", "z"])
def test_checks_muon_mass_squared(axis):
    mu_minus, mu_plus = z_decay_at_rest(axis)

    checks = compute_checks(mu_minus, mu_plus)

    assert checks["m2_mu-"].dtype == np.float64
    assert checks["m2_mu+"].dtype == np.float64
    assert checks["m2_mu-"][0] == pytest.approx(MUON_MASS**2, abs=1e-12)
    assert checks["m2_mu+"][0] == pytest.approx(MUON_MASS**2, abs=1e-12)


def test_checks_transverse_pair():
    # Two muons of |p| = 10 GeV along x and y: m^2 = 2 m_mu^2 + 2 (E^2 - p1.p2)
    # with p1.p2 = 0 and E^2 = 100 + m_mu^2, so m^2 = 200 + 4 m_mu^2.
    energy = math.sqrt(100.0 + MUON_MASS**2)
    mu_minus = momenta([[10.0, 0.0, 0.0, energy]])
    mu_plus = momenta([[0.0, 10.0, 0.0, energy]])

    checks = compute_checks(mu_minus, mu_plus)

    assert checks["m_mumu"][0] == pytest.approx(
        math.sqrt(200.0 + 4 * MUON_MASS**2), abs=1e-12
    )
    assert checks["pt_mumu"][0] == pytest.approx(math.sqrt(200.0), abs=1e-12)
    assert checks["px_sum"][0] == 10.0
    assert checks["py_sum"][0] == 10.0
    assert checks["E_sum"][0] == pytest.approx(2 * energy, abs=1e-12)
    assert checks["pt_asymmetry"][0] == 0.0


def test_checks_z_boosted_along_z():
    # Boost the decay along x with beta = 3/5 (gamma = 5/4) along z. Each muon
    # gets E' = gamma E and pz' = gamma beta E, and px is unchanged.
    gamma, beta = 1.25, 0.6
    energy = Z_MASS / 2
    momentum = math.sqrt(energy * energy - MUON_MASS * MUON_MASS)
    boosted_energy = gamma * energy
    boosted_pz = gamma * beta * energy
    mu_minus = momenta([[momentum, 0.0, boosted_pz, boosted_energy]])
    mu_plus = momenta([[-momentum, 0.0, boosted_pz, boosted_energy]])

    checks = compute_checks(mu_minus, mu_plus)

    assert checks["m_mumu"][0] == pytest.approx(Z_MASS, abs=1e-9)
    assert checks["E_sum"][0] == pytest.approx(1.25 * Z_MASS, abs=1e-12)
    assert checks["pz_sum"][0] == pytest.approx(0.75 * Z_MASS, abs=1e-12)
    assert checks["px_sum"][0] == 0.0
    assert checks["pt_mumu"][0] == 0.0
    assert checks["m2_mu-"][0] == pytest.approx(MUON_MASS**2, abs=1e-12)


def test_checks_massless_boosted_pair():
    # (30, 0, 40, 50) + (-30, 0, 40, 50) = (0, 0, 80, 100): m = sqrt(100^2 - 80^2).
    mu_minus = momenta([[30.0, 0.0, 40.0, 50.0]])
    mu_plus = momenta([[-30.0, 0.0, 40.0, 50.0]])

    checks = compute_checks(mu_minus, mu_plus)

    assert checks["m_mumu"][0] == pytest.approx(60.0, abs=1e-12)
    assert checks["m2_mu-"][0] == 0.0
    assert checks["m2_mu+"][0] == 0.0
    assert checks["pz_sum"][0] == 80.0


def test_checks_initial_state():
    mu_minus, mu_plus = z_decay_at_rest(2)
    initial = momenta([[1.0, -2.0, 3.0, Z_MASS + 4.0]])

    checks = compute_checks(mu_minus, mu_plus, initial)

    assert checks["dpx"][0] == -1.0
    assert checks["dpy"][0] == 2.0
    assert checks["dpz"][0] == -3.0
    assert checks["dE"][0] == pytest.approx(-4.0, abs=1e-12)


def test_checks_without_initial_state():
    mu_minus, mu_plus = z_decay_at_rest(0)

    checks = compute_checks(mu_minus, mu_plus)

    assert "dE" not in checks


def test_checks_pt_asymmetry_value():
    # pT 30 and 10 GeV: (30 - 10) / (30 + 10) = 0.5.
    mu_minus = momenta([[30.0, 0.0, 0.0, muon_energy(30.0, 0.0, 0.0)]])
    mu_plus = momenta([[0.0, -10.0, 0.0, muon_energy(0.0, -10.0, 0.0)]])

    checks = compute_checks(mu_minus, mu_plus)

    assert checks["pt_asymmetry"][0] == pytest.approx(0.5, abs=1e-15)


# Pair selection


def test_select_no_muons():
    selection = select_pair(muon_events([[]]))

    assert selection.has_two_muons.tolist() == [False]
    assert selection.has_opposite_pair.tolist() == [False]
    assert selection.mu_minus.tolist() == [None]
    assert selection.mu_plus.tolist() == [None]


def test_select_one_muon():
    selection = select_pair(muon_events([[(10.0, 0.0, 0.0, -1)]]))

    assert selection.has_two_muons.tolist() == [False]
    assert selection.has_opposite_pair.tolist() == [False]


def test_select_same_sign_pair():
    event = [(10.0, 0.0, 0.0, 1), (0.0, 20.0, 0.0, 1)]

    selection = select_pair(muon_events([event]))

    assert selection.has_two_muons.tolist() == [True]
    assert selection.has_opposite_pair.tolist() == [False]


def test_select_three_muons_same_sign_first():
    # The two muons stored first are mu+ with pT 50 and 40, and the only mu-
    # has pT 30. The pair is the mu- with the leading mu+.
    event = [(50.0, 0.0, 1.0, 1), (0.0, 40.0, 2.0, 1), (-30.0, 0.0, 3.0, -1)]

    selection = select_pair(muon_events([event]))

    assert selection.has_two_muons.tolist() == [True]
    assert selection.has_opposite_pair.tolist() == [True]
    assert selection.mu_minus.px.tolist() == [-30.0]
    assert selection.mu_minus.pz.tolist() == [3.0]
    assert selection.mu_plus.px.tolist() == [50.0]
    assert selection.mu_plus.pz.tolist() == [1.0]


def test_select_four_muons_leading():
    # Stored pT order 20 (-), 35 (+), 45 (-), 10 (+): the leading mu- has pT 45
    # and the leading mu+ pT 35.
    event = [
        (20.0, 0.0, 1.0, -1),
        (0.0, -35.0, 2.0, 1),
        (-45.0, 0.0, 3.0, -1),
        (0.0, 10.0, 4.0, 1),
    ]

    selection = select_pair(muon_events([event]))

    assert selection.has_opposite_pair.tolist() == [True]
    assert selection.mu_minus.pt.tolist() == [45.0]
    assert selection.mu_minus.pz.tolist() == [3.0]
    assert selection.mu_plus.pt.tolist() == [35.0]
    assert selection.mu_plus.pz.tolist() == [2.0]


def test_select_pair_charge_order():
    # The mu+ is stored first; the selection still returns the mu- first.
    event = [(0.0, 25.0, 5.0, 1), (15.0, 0.0, -5.0, -1)]

    selection = select_pair(muon_events([event]))

    assert selection.mu_minus.charge.tolist() == [-1]
    assert selection.mu_plus.charge.tolist() == [1]
    assert selection.mu_minus.px.tolist() == [15.0]
    assert selection.mu_plus.py.tolist() == [25.0]


def test_select_mixed_events():
    events = [
        [],
        [(10.0, 0.0, 0.0, -1)],
        [(10.0, 0.0, 0.0, -1), (0.0, 20.0, 0.0, -1)],
        [(10.0, 0.0, 0.0, -1), (0.0, 20.0, 0.0, 1)],
        [(5.0, 0.0, 0.0, 1), (0.0, 7.0, 0.0, 1), (0.0, 0.0, 9.0, -1)],
    ]

    selection = select_pair(muon_events(events))

    assert selection.has_two_muons.tolist() == [False, False, True, True, True]
    assert selection.has_opposite_pair.tolist() == [False, False, False, True, True]


# Features


def test_feature_names_p3():
    assert feature_names("p3") == (
        "px_mu-",
        "py_mu-",
        "pz_mu-",
        "px_mu+",
        "py_mu+",
        "pz_mu+",
    )


def test_feature_names_p4():
    assert feature_names("p4") == (
        "px_mu-",
        "py_mu-",
        "pz_mu-",
        "E_mu-",
        "px_mu+",
        "py_mu+",
        "pz_mu+",
        "E_mu+",
    )


def test_feature_names_unknown():
    with pytest.raises(ValueError, match=r"unknown feature set 'p5'; choose one of"):
        feature_names("p5")


def test_feature_matrix_p4_columns():
    mu_minus = momenta([[1.0, 2.0, 3.0, 4.0], [11.0, 12.0, 13.0, 14.0]])
    mu_plus = momenta([[5.0, 6.0, 7.0, 8.0], [15.0, 16.0, 17.0, 18.0]])

    matrix = feature_matrix(mu_minus, mu_plus, "p4")

    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(
        matrix,
        [
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            [11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0],
        ],
    )


def test_feature_matrix_p3_columns():
    mu_minus = momenta([[1.0, 2.0, 3.0, 4.0]])
    mu_plus = momenta([[5.0, 6.0, 7.0, 8.0]])

    matrix = feature_matrix(mu_minus, mu_plus, "p3")

    np.testing.assert_array_equal(matrix, [[1.0, 2.0, 3.0, 5.0, 6.0, 7.0]])


def test_feature_matrix_empty():
    empty = momenta(np.empty((0, 4)))

    matrix = feature_matrix(empty, empty, "p4")

    assert matrix.shape == (0, 8)


# Relevance


def test_relevance_population_std():
    # Latent 0: mu = 0, 2, 4 has population std sqrt(8/3), and sigma = 1, 2, 3
    # has mean 2. Latent 1: mu is constant, so its relevance is 0.
    mu = np.array([[0.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    sigma = np.array([[1.0, 0.5], [2.0, 0.5], [3.0, 0.5]])
    logvar = 2.0 * np.log(sigma)

    values = relevance(mu, logvar)

    assert values.shape == (2,)
    assert values[0] == pytest.approx(math.sqrt(8.0 / 3.0) / 2.0, rel=1e-14)
    assert values[1] == 0.0


def test_relevance_per_run():
    # Run 0: mu = -1, 1 (std 1), sigma 0.5. Run 1: mu = 0, 6 (std 3), sigma 3.
    mu = np.array([[[-1.0], [1.0]], [[0.0], [6.0]]])
    logvar = 2.0 * np.log(np.array([[[0.5], [0.5]], [[3.0], [3.0]]]))

    values = relevance(mu, logvar)

    assert values.shape == (2, 1)
    assert values[0, 0] == pytest.approx(2.0, rel=1e-14)
    assert values[1, 0] == pytest.approx(1.0, rel=1e-14)


def test_count_relevant_threshold():
    values = np.array([[2.0, 1.0, 0.5], [1.5, 1.2, 3.0], [0.1, 0.2, 0.3]])

    counts = count_relevant(values, threshold=1.0)

    assert counts.tolist() == [1, 3, 0]


def test_count_relevant_custom_threshold():
    values = np.array([[0.3, 0.25, 0.1]])

    counts = count_relevant(values, threshold=0.2)

    assert counts.tolist() == [2]


def test_sort_decreasing_rows():
    values = np.array([[0.1, 5.0, 2.0], [3.0, 1.0, 4.0]])

    ranked = sort_decreasing(values)

    np.testing.assert_array_equal(ranked, [[5.0, 2.0, 0.1], [4.0, 3.0, 1.0]])


def test_summarize_runs_sample_std():
    # Sorted runs [3, 1] and [4, 2] give mean [3.5, 1.5] and ddof=1 std sqrt(0.5).
    values = np.array([[1.0, 3.0], [4.0, 2.0]])

    mean, std = summarize_runs(values)

    np.testing.assert_allclose(mean, [3.5, 1.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(std, [math.sqrt(0.5)] * 2, rtol=1e-15)


def test_summarize_runs_three_runs():
    # Rank 0 over runs: 6, 3, 3 -> mean 4, sample variance (4 + 1 + 1) / 2 = 3.
    values = np.array([[6.0, 1.0], [2.0, 3.0], [3.0, 0.0]])

    mean, std = summarize_runs(values)

    np.testing.assert_allclose(mean, [4.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(std, [math.sqrt(3.0), 1.0], rtol=1e-15)


def test_summarize_single_run():
    mean, std = summarize_runs(np.array([[0.5, 2.0]]))

    np.testing.assert_array_equal(mean, [2.0, 0.5])
    np.testing.assert_array_equal(std, [0.0, 0.0])


# Standardization


def test_standardizer_constant_column():
    features = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])

    standardizer = Standardizer.fit(features)
    transformed = standardizer.transform(features)

    assert np.isfinite(transformed).all()
    np.testing.assert_array_equal(transformed[:, 1], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(standardizer.mean, [3.0, 5.0])
    np.testing.assert_array_equal(standardizer.scale, [math.sqrt(8.0 / 3.0), 1.0])
    expected = np.array([-2.0, 0.0, 2.0]) / math.sqrt(8.0 / 3.0)
    np.testing.assert_allclose(transformed[:, 0], expected, rtol=1e-15)


@pytest.mark.parametrize("value", [5.0, 0.1, 45.6, 91.1876])
def test_standardizer_constant_value(value):
    # A constant column whose float64 mean is not exactly the value itself
    # (0.1, 45.6 and 91.1876 over 7 events) is still constant.
    features = np.column_stack([np.arange(7.0), np.full(7, value)])

    standardizer = Standardizer.fit(features)
    transformed = standardizer.transform(features)

    assert standardizer.scale[1] == 1.0
    np.testing.assert_array_equal(transformed[:, 1], np.zeros(7))


# VAE loss


def test_vae_loss_hand_computed():
    # One run, two events, two features, two latents.
    x = torch.tensor([[[1.0, 2.0], [0.0, -1.0]]], dtype=torch.float64)
    reconstruction = torch.tensor([[[0.0, 2.0], [2.0, 1.0]]], dtype=torch.float64)
    mu = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)
    logvar = torch.tensor([[[0.0, 0.0], [math.log(2.0), 0.0]]], dtype=torch.float64)
    beta = 0.1

    # Squared distances 1 and 8, mean 4.5.
    expected_reconstruction = 4.5
    # KL of event 0: 0.5 + 0; of event 1: 0.5 (1 - ln 2) + 2.
    expected_kl = (0.5 + 0.5 * (1.0 - math.log(2.0)) + 2.0) / 2.0

    terms = vae_loss(x, reconstruction, mu, logvar, beta)

    assert terms["reconstruction"].shape == (1,)
    assert terms["kl"].shape == (1,)
    assert terms["loss"].shape == (1,)
    assert terms["reconstruction"].item() == pytest.approx(
        expected_reconstruction, rel=1e-15
    )
    assert terms["kl"].item() == pytest.approx(expected_kl, rel=1e-15)
    assert terms["loss"].item() == pytest.approx(
        expected_reconstruction + beta * expected_kl, rel=1e-15
    )


def test_vae_loss_runs_independent():
    # Two runs: run 1 has a perfect reconstruction and a standard normal
    # posterior, so both its terms are 0 while run 0 keeps its values.
    x = torch.tensor([[[1.0], [3.0]], [[1.0], [3.0]]], dtype=torch.float64)
    reconstruction = torch.tensor([[[0.0], [3.0]], [[1.0], [3.0]]], dtype=torch.float64)
    mu = torch.tensor([[[2.0], [0.0]], [[0.0], [0.0]]], dtype=torch.float64)
    logvar = torch.zeros(2, 2, 1, dtype=torch.float64)

    terms = vae_loss(x, reconstruction, mu, logvar, beta=1.0)

    assert terms["reconstruction"].tolist() == [0.5, 0.0]
    assert terms["kl"].tolist() == [1.0, 0.0]
    assert terms["loss"].tolist() == [1.5, 0.0]
