"""Tests of the Pythia event generation, read back from the LHE files with pylhe."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pylhe
import pytest

import samples.pythia
from models.discovery import APPROXIMATE, EXACT, discover_constraints
from samples.errors import InputError
from samples.pythia import cached_sample, generate_ee_mumu, generate_pp_dy

MUON_MASS = 0.10566  # GeV, Pythia 8.317 particle data
Z_MASS = 91.1876  # GeV, Pythia 8.317 particle data
Z_WIDTH = 2.4952  # GeV, Pythia 8.317 particle data
SQRT_S_EE = 80.0
SQRT_S_PP = 13000.0
WINDOW = (60.0, 120.0)
N_EVENTS = 500


def read_lhe(path: Path) -> tuple[pylhe.LHEFile, list[pylhe.LHEEvent]]:
    lhe = pylhe.LHEFile.fromfile(path)
    return lhe, list(lhe.events)


def final_muons(event: pylhe.LHEEvent) -> np.ndarray:
    """Return the (px, py, pz, e, m) rows of the status-1 particles."""
    rows = [[p.px, p.py, p.pz, p.e, p.m] for p in event.particles if p.status == 1]
    return np.array(rows)


def invariant_mass(four_momentum: np.ndarray) -> float:
    e, px, py, pz = four_momentum[3], *four_momentum[:3]
    return math.sqrt(max(e**2 - px**2 - py**2 - pz**2, 0.0))


@pytest.fixture(scope="module")
def ee_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ee") / "ee.lhe.gz"
    return generate_ee_mumu(path, n_events=N_EVENTS, sqrt_s=SQRT_S_EE, seed=3)


@pytest.fixture(scope="module")
def pp_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pp") / "pp.lhe.gz"
    return generate_pp_dy(
        path, n_events=N_EVENTS, sqrt_s=SQRT_S_PP, mass_window=WINDOW, seed=3
    )


def test_ee_event_count(ee_file):
    _, events = read_lhe(ee_file)

    assert len(events) == N_EVENTS
    assert pylhe.LHEFile.count_events(ee_file) == N_EVENTS


def test_ee_record_layout(ee_file):
    _, events = read_lhe(ee_file)

    for event in events:
        assert event.eventinfo.nparticles == 5
        assert [p.id for p in event.particles] == [11, -11, 23, 13, -13]
        assert [p.status for p in event.particles] == [-1, -1, 2, 1, 1]
        assert [(p.mother1, p.mother2) for p in event.particles] == [
            (0, 0),
            (0, 0),
            (1, 2),
            (3, 3),
            (3, 3),
        ]


def test_ee_muons_back_to_back(ee_file):
    _, events = read_lhe(ee_file)

    for event in events:
        total = final_muons(event)[:, :4].sum(axis=0)
        assert np.linalg.norm(total[:3]) < 1e-9 * SQRT_S_EE
        assert abs(total[3] - SQRT_S_EE) < 1e-9 * SQRT_S_EE


def test_ee_muons_massive(ee_file):
    # Each muon carries half the energy and keeps its mass, so its momentum
    # is sqrt((sqrt_s / 2)^2 - m_mu^2).
    _, events = read_lhe(ee_file)
    expected_momentum = math.sqrt((SQRT_S_EE / 2.0) ** 2 - MUON_MASS**2)

    for event in events:
        muons = final_muons(event)
        np.testing.assert_array_equal(muons[:, 4], MUON_MASS)
        np.testing.assert_allclose(muons[:, 3], SQRT_S_EE / 2.0, rtol=1e-12)
        momentum = np.linalg.norm(muons[:, :3], axis=1)
        np.testing.assert_allclose(momentum, expected_momentum, rtol=1e-12)


def test_ee_init_block(ee_file):
    lhe, _ = read_lhe(ee_file)
    init = lhe.init.initInfo

    assert (init.beamA, init.beamB) == (11, -11)
    assert init.energyA == SQRT_S_EE / 2.0
    assert init.energyB == SQRT_S_EE / 2.0
    assert (init.PDFgroupA, init.PDFgroupB, init.PDFsetA, init.PDFsetB) == (0, 0, 0, 0)
    assert init.weightingStrategy == 3
    assert init.numProcesses == 1
    assert len(lhe.init.procInfo) == 1
    assert lhe.init.procInfo[0].procId == 221


def test_ee_cross_section_matches_born(ee_file):
    # Born cross section of e+e- -> gamma*/Z0 -> mu+mu- with Pythia's
    # conventions: a_f = -1, v_f = -1 + 4 sin^2(theta_W)bar, a Z0 propagator
    # with the running width s * Gamma / m, and alpha_em(s) read from the
    # events. The parameters are the Pythia 8.317 defaults.
    lhe, events = read_lhe(ee_file)
    sin2_theta_w, sin2_theta_w_bar = 0.2312, 0.2315
    z_mass, z_width = 91.1876, 2.4952
    gev2_to_pb = 0.3893794e9
    alpha = events[0].eventinfo.aqed
    s = SQRT_S_EE**2

    axial = -1.0
    vector = -1.0 + 4.0 * sin2_theta_w_bar
    weak_ratio = 1.0 / (16.0 * sin2_theta_w * (1.0 - sin2_theta_w))
    denominator = (s - z_mass**2) ** 2 + (s * z_width / z_mass) ** 2
    photon = 4.0 * math.pi * alpha**2 / (3.0 * s)
    interference = photon * 2.0 * weak_ratio * s * (s - z_mass**2) / denominator
    resonance = photon * weak_ratio**2 * s**2 / denominator
    born = (
        photon + vector**2 * interference + (vector**2 + axial**2) ** 2 * resonance
    ) * gev2_to_pb

    process = lhe.init.procInfo[0]
    assert process.xSection == pytest.approx(born, rel=1e-3)
    assert 0.0 <= process.error < 1e-3 * process.xSection


def test_ee_header_records_configuration(ee_file):
    lhe, _ = read_lhe(ee_file)
    elements = {element.tag: element for element in lhe.header.extra_elements}

    generator = elements["generator"]
    assert generator.attrib["name"] == "Pythia"
    assert generator.attrib["version"].startswith("8.")
    configuration = json.loads(elements["configuration"].text)
    assert configuration == {
        "format_version": samples.pythia.FORMAT_VERSION,
        "process": "ee-mumu",
        "n_events": N_EVENTS,
        "sqrt_s": SQRT_S_EE,
        "isr": False,
        "fsr": False,
        "seed": 3,
    }
    settings = elements["pythia_settings"].text.splitlines()
    assert "Random:seed = 3" in settings
    assert "Beams:eCM = 80.0" in settings
    assert "23:onIfAny = 13" in settings
    assert [g.name for g in lhe.init.generators] == ["Pythia"]


def test_pp_event_count(pp_file):
    _, events = read_lhe(pp_file)

    assert len(events) == N_EVENTS


def test_pp_init_block(pp_file):
    lhe, _ = read_lhe(pp_file)
    init = lhe.init.initInfo

    assert (init.beamA, init.beamB) == (2212, 2212)
    assert init.energyA == SQRT_S_PP / 2.0
    assert init.energyB == SQRT_S_PP / 2.0
    process = lhe.init.procInfo[0]
    assert process.procId == 221
    assert process.xSection > 0.0
    assert 0.0 < process.error < 0.2 * process.xSection


def test_pp_record_layout(pp_file):
    _, events = read_lhe(pp_file)

    for event in events:
        first, second, boson, muon, antimuon = event.particles
        assert [p.status for p in event.particles] == [-1, -1, 2, 1, 1]
        assert (boson.id, muon.id, antimuon.id) == (23, 13, -13)
        # A quark and its antiquark annihilate, so the flavours are opposite
        # and the quark's colour equals the antiquark's anticolour.
        assert first.id == -second.id
        assert 1 <= abs(first.id) <= 5
        quark, antiquark = (first, second) if first.id > 0 else (second, first)
        assert quark.color1 == antiquark.color2 != 0


def test_pp_pair_transverse_momentum_zero(pp_file):
    _, events = read_lhe(pp_file)

    for event in events:
        muons = final_muons(event)
        scale = np.hypot(muons[:, 0], muons[:, 1]).sum()
        assert abs(muons[:, 0].sum()) <= 1e-9 * scale
        assert abs(muons[:, 1].sum()) <= 1e-9 * scale


def test_pp_momentum_conserved(pp_file):
    _, events = read_lhe(pp_file)

    for event in events:
        rows = np.array([[p.px, p.py, p.pz, p.e] for p in event.particles])
        incoming = rows[0] + rows[1]
        outgoing = rows[3] + rows[4]
        np.testing.assert_allclose(outgoing, incoming, rtol=0, atol=1e-9 * rows[2, 3])
        np.testing.assert_allclose(rows[2], incoming, rtol=0, atol=1e-9 * rows[2, 3])
        assert rows[0, 3] <= SQRT_S_PP / 2.0
        assert rows[1, 3] <= SQRT_S_PP / 2.0


def test_pp_mass_window_respected(pp_file):
    _, events = read_lhe(pp_file)
    masses = np.array(
        [invariant_mass(final_muons(e)[:, :4].sum(axis=0)) for e in events]
    )
    boson_masses = np.array([e.particles[2].m for e in events])

    assert masses.min() >= WINDOW[0]
    assert masses.max() <= WINDOW[1]
    np.testing.assert_allclose(masses, boson_masses, rtol=1e-9)


def test_pp_constraints_match_line_shape(tmp_path):
    # 4000 partonic events in the default 60-120 GeV window, read with pylhe.
    path = generate_pp_dy(tmp_path / "discovery.lhe.gz", n_events=4000, seed=11)
    _, events = read_lhe(path)
    features = np.array([final_muons(event)[:, :4].ravel() for event in events])
    names = [f"{c}_mu{s}" for s in "-+" for c in ("px", "py", "pz", "E")]
    pair = features[:, :4] + features[:, 4:]
    mass_squared = pair[:, 3] ** 2 - np.sum(pair[:, :3] ** 2, axis=1)

    constraints = discover_constraints(features, names)

    assert [(c.expression, c.status) for c in constraints] == [
        ("px_mu- + px_mu+", EXACT),
        ("py_mu- + py_mu+", EXACT),
        ("E_mu-² − px_mu-² − py_mu-² − pz_mu-²", EXACT),
        ("E_mu+² − px_mu+² − py_mu+² − pz_mu+²", EXACT),
        (
            "E_mu-² + 2 E_mu-·E_mu+ + E_mu+² − pz_mu-² − 2 pz_mu-·pz_mu+ − pz_mu+²",
            APPROXIMATE,
        ),
    ]
    for on_shell in constraints[2:4]:
        assert on_shell.constant == pytest.approx(MUON_MASS**2, rel=1e-4)
    resonance = constraints[4]
    lower, upper = np.percentile(mass_squared, [25, 75])
    assert resonance.constant == pytest.approx(np.mean(mass_squared), rel=1e-9)
    assert resonance.quartiles == pytest.approx((lower, upper), rel=1e-9)
    # The tails of the window inflate the standard deviation to about 12 %
    # of m², while the quartiles of a Breit-Wigner in m² lie m_Z Γ_Z from
    # its peak. 4000 events measure them to a few percent.
    assert resonance.relative_spread > 0.1
    assert (upper - lower) / 2 == pytest.approx(Z_MASS * Z_WIDTH, rel=0.05)


def test_pp_showers_move_final_muons(tmp_path):
    path = generate_pp_dy(
        tmp_path / "showers.lhe.gz", n_events=200, showers=True, seed=4
    )
    _, events = read_lhe(path)

    assert len(events) == 200
    pair_pt = []
    for event in events:
        assert [p.status for p in event.particles] == [-1, -1, 2, 1, 1]
        assert [p.id for p in event.particles[2:]] == [23, 13, -13]
        assert WINDOW[0] <= event.particles[2].m <= WINDOW[1]
        muons = final_muons(event)
        np.testing.assert_array_equal(muons[:, 4], MUON_MASS)
        pair_pt.append(math.hypot(muons[:, 0].sum(), muons[:, 1].sum()))
    # Initial-state radiation gives the pair a transverse recoil, with a
    # median of about 13 GeV, where the partonic sample has exactly zero.
    assert np.median(pair_pt) > 1.0


def test_ee_radiation_lowers_muon_energy(tmp_path):
    path = generate_ee_mumu(
        tmp_path / "radiation.lhe.gz", n_events=200, isr=True, fsr=True, seed=4
    )
    _, events = read_lhe(path)

    assert len(events) == 200
    energy = np.array([final_muons(e)[:, 3].sum() for e in events])
    assert energy.max() <= SQRT_S_EE * (1.0 + 1e-12)
    assert np.mean(energy < SQRT_S_EE * (1.0 - 1e-6)) > 0.1


def test_same_seed_byte_identical(tmp_path):
    first = generate_ee_mumu(tmp_path / "a.lhe.gz", n_events=200, seed=7)
    second = generate_ee_mumu(tmp_path / "b.lhe.gz", n_events=200, seed=7)

    assert first.read_bytes() == second.read_bytes()


def test_different_seed_differs(tmp_path):
    first = generate_ee_mumu(tmp_path / "a.lhe.gz", n_events=200, seed=7)
    second = generate_ee_mumu(tmp_path / "b.lhe.gz", n_events=200, seed=8)

    assert first.read_bytes() != second.read_bytes()


def test_gzip_header_has_no_name_or_time(tmp_path):
    # In the gzip header, byte 3 contains the flags (0x08: a file name
    # follows) and bytes 4-7 the modification time.
    path = generate_ee_mumu(tmp_path / "a.lhe.gz", n_events=200, seed=7)
    data = path.read_bytes()

    assert data[:2] == b"\x1f\x8b"
    assert data[3] & 0x08 == 0
    assert data[4:8] == b"\x00\x00\x00\x00"
    with gzip.open(path, "rt") as text:
        assert text.readline().startswith("<LesHouchesEvents")


def test_generation_prints_nothing(tmp_path, capfd):
    generate_pp_dy(tmp_path / "quiet.lhe.gz", n_events=200, seed=5)

    output = capfd.readouterr()
    assert output.out == ""
    assert output.err == ""


def test_cached_sample_path_and_reuse(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(tmp_path))

    path = cached_sample("ee-mumu", n_events=200, seed=9)
    assert path.parent == tmp_path / "generated"
    assert path.name.startswith("ee-mumu-")
    assert path.name.endswith(".lhe.gz")
    assert len(read_lhe(path)[1]) == 200

    def fail(*args, **kwargs):
        raise AssertionError("the cached file was generated again")

    monkeypatch.setattr(samples.pythia, "_generate", fail)
    assert cached_sample("ee-mumu", n_events=200, seed=9) == path
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_cached_sample_key_uses_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(tmp_path))

    implicit = cached_sample("ee-mumu", n_events=200)
    explicit = cached_sample(
        "ee-mumu", n_events=200, sqrt_s=80, isr=False, fsr=False, seed=1
    )
    assert explicit == implicit


def test_cached_sample_key_changes_with_config(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(tmp_path))

    paths = {
        cached_sample("ee-mumu", n_events=200),
        cached_sample("ee-mumu", n_events=200, seed=2),
        cached_sample("ee-mumu", n_events=201),
        cached_sample("ee-mumu", n_events=200, sqrt_s=91.0),
        cached_sample("pp-dy", n_events=200),
        cached_sample("pp-dy", n_events=200, mass_window=(70.0, 110.0)),
    }
    assert len(paths) == 6


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(tmp_path))

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(samples.pythia.shutil, "copyfileobj", interrupt)
    with pytest.raises(KeyboardInterrupt):
        cached_sample("ee-mumu", n_events=200)
    assert list((tmp_path / "generated").iterdir()) == []


def test_cached_sample_unknown_process_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(tmp_path))

    with pytest.raises(InputError, match="unknown process 'mumu'"):
        cached_sample("mumu")


def test_cached_sample_unknown_argument_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(tmp_path))

    with pytest.raises(InputError, match=r"invalid argument\(s\) \['showers'\]"):
        cached_sample("ee-mumu", showers=True)


@pytest.mark.parametrize("seed", [0, -1, 900_000_001])
def test_seed_out_of_range_rejected(tmp_path, seed):
    with pytest.raises(InputError, match=f"invalid seed {seed}"):
        generate_ee_mumu(tmp_path / "a.lhe.gz", n_events=10, seed=seed)


@pytest.mark.parametrize(
    "window", [(120.0, 60.0), (5.0, 20.0), (60.0, 14000.0), (60.0,)]
)
def test_invalid_mass_window_rejected(tmp_path, window):
    with pytest.raises(InputError, match="invalid mass_window"):
        generate_pp_dy(tmp_path / "a.lhe.gz", n_events=10, mass_window=window)


def test_ee_energy_below_boson_limit_rejected(tmp_path):
    with pytest.raises(InputError, match="sqrt_s = 5.0 GeV is below"):
        generate_ee_mumu(tmp_path / "a.lhe.gz", n_events=10, sqrt_s=5.0)


def test_missing_output_folder_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder .* not found"):
        generate_ee_mumu(tmp_path / "missing" / "a.lhe.gz", n_events=10)
