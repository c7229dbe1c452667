"""Quick reproduction of the square toy and e+e- experiments."""

import json

import pytest

import analysis


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("reproduce")
    options = ["reproduce", "--quick", "--no-progress", "--outdir", str(outdir)]
    code = analysis.main([*options, "--only", "square", "ee"])
    summaries = {}
    for name in ("square", "ee"):
        with open(outdir / name / "summary.json") as stream:
            summaries[name] = json.load(stream)
    return code, outdir, summaries


@pytest.mark.slow
def test_reproduce_exit_code(reproduction):
    code, _, _ = reproduction
    assert code == 0


@pytest.mark.slow
def test_square_two_relevant(reproduction):
    _, _, summaries = reproduction
    counts = summaries["square"]["n_relevant"]
    assert len(counts) == analysis.QUICK_RUNS
    assert sum(n == 2 for n in counts) >= 0.9 * len(counts)


@pytest.mark.slow
def test_ee_three_relevant(reproduction):
    _, _, summaries = reproduction
    counts = summaries["ee"]["n_relevant"]
    assert sum(n == 3 for n in counts) >= 0.9 * len(counts)


@pytest.mark.slow
def test_ee_constraints_found(reproduction):
    _, _, summaries = reproduction
    found = summaries["ee"]["interpretation"]["constraints"]
    formulas = [c["formula"] for c in found]
    for component in ("px", "py", "pz"):
        expected = f"{component}_mu- + {component}_mu+ = 0.000 ± 0 GeV (exact)"
        assert expected in formulas
    assert len(found) == 4
    assert all(c["status"] == "exact" for c in found)


@pytest.mark.slow
def test_ee_energy_constraint(reproduction):
    _, _, summaries = reproduction
    quadratic = [
        c for c in summaries["ee"]["interpretation"]["constraints"] if c["degree"] == 2
    ]
    # |p|^2 = (sqrt(s)/2)^2 - m_mu^2 for sqrt(s) = 80 GeV.
    expected = 40.0**2 - 0.1056583755**2
    assert len(quadratic) == 1
    assert quadratic[0]["constant"] == pytest.approx(expected, rel=1e-6)
    assert quadratic[0]["spread"] < 1e-9 * expected


@pytest.mark.slow
def test_report_lists_experiments(reproduction):
    _, outdir, _ = reproduction
    report = (outdir / "report.md").read_text()
    assert "| square | 10000 | 2 | 4 | 4 |" in report
    assert "| ee | 10000 | 6 | 6 | 4 |" in report
    assert "ee_latents_vs_differences.png" in report
    assert (outdir / "toys_relevance.png").exists()
