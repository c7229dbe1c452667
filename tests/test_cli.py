"""The command-line driver ``analysis.main`` end to end: outputs, their
consistency, determinism and the error messages for bad input."""

from __future__ import annotations

import json
import platform
import re
from importlib import metadata

import numpy as np
import pytest
import uproot

import analysis
from processors.constraints import CHECKS, INITIAL_STATE_CHECKS
from processors.features import feature_names
from samples.registry import SAMPLES

ZMUMU = "uproot-Zmumu.root"
SMALL_DY = "uproot-small-dy-withoffsets.root"

OUTPUT_FILES = (
    "summary.json",
    "histograms.root",
    "relevance.png",
    "latent_grid.png",
    "constraints.png",
    "mass.png",
    "models.pt",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MUON_MASS = 0.1056583755  # GeV
FLAT_BRANCHES = ("E1", "px1", "py1", "pz1", "Q1", "E2", "px2", "py2", "pz2", "Q2")

# The end-to-end run: 2 runs of 2 epochs on the whole CMS 2010 file. Such a
# short training gave relevance values of about 0.1 to 0.3 here, so a
# threshold of 0.2 makes the count of relevant latents differ from zero.
FULL_OPTIONS = ("--epochs", "2", "--runs", "2", "--relevance-threshold", "0.2")
# A cheap run for determinism: 600 events, 6 features, 2 latents.
SMALL_OPTIONS = (
    "--max-events",
    "600",
    "--features",
    "p3",
    "--latent-dim",
    "2",
    "--epochs",
    "1",
    "--runs",
    "2",
    "--seed",
    "7",
)


def run_main(*options):
    return analysis.main([*(str(option) for option in options), "--no-progress"])


@pytest.fixture(scope="module")
def completed_runs(tmp_path_factory):
    """Run ``analysis.main`` once per distinct option list and keep the result.

    The returned function takes the options (without ``--outdir``) and a
    label, and returns ``(exit code, output folder)``.
    """
    done = {}

    def run(options, label="run"):
        key = (label, *(str(option) for option in options))
        if key not in done:
            outdir = tmp_path_factory.mktemp(label) / "out"
            code = run_main(*options, "--outdir", outdir)
            done[key] = (code, outdir)
        return done[key]

    return run


def zmumu_options(real_file):
    return ("--files", real_file(ZMUMU), "--treename", "events")


def full_run(real_file, completed_runs):
    return completed_runs((*zmumu_options(real_file), *FULL_OPTIONS), "full")


def full_summary(real_file, completed_runs):
    _, outdir = full_run(real_file, completed_runs)
    return json.loads((outdir / "summary.json").read_text())


def full_histograms(real_file, completed_runs):
    _, outdir = full_run(real_file, completed_runs)
    return uproot.open(outdir / "histograms.root")


def flat_arrays(path, entry_stop):
    tree = uproot.open(path)["events"]
    return tree.arrays(FLAT_BRANCHES, library="np", entry_stop=entry_stop)


def count_opposite(arrays):
    return int(np.count_nonzero(arrays["Q1"] * arrays["Q2"] < 0))


def write_flat(path, arrays):
    types = {name: values.dtype for name, values in arrays.items()}
    with uproot.recreate(path) as output:
        output.mktree("events", types)
        if len(arrays["E1"]):
            output["events"].extend(arrays)


# End-to-end run on the CMS 2010 file


def test_full_exit_code(real_file, completed_runs):
    code, _ = full_run(real_file, completed_runs)

    assert code == 0


def test_full_outputs_exist(real_file, completed_runs):
    _, outdir = full_run(real_file, completed_runs)

    for name in OUTPUT_FILES:
        path = outdir / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name


def test_full_plots_are_png(real_file, completed_runs):
    _, outdir = full_run(real_file, completed_runs)

    for name in OUTPUT_FILES:
        if name.endswith(".png"):
            assert (outdir / name).read_bytes()[:8] == PNG_SIGNATURE, name


def test_full_no_staging_left(real_file, completed_runs):
    _, outdir = full_run(real_file, completed_runs)

    for folder in (outdir, outdir.parent):
        leftovers = [p.name for p in folder.iterdir() if "partial" in p.name]
        assert leftovers == [], folder


def test_summary_counts(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)

    assert summary["n_events"] == 2304
    assert summary["n_selected"] == 2147


def test_summary_cutflow(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    counts = [count for _, count in summary["cutflow"]]

    assert counts[0] == summary["n_events"]
    assert counts[-1] == summary["n_selected"]
    for step in range(1, len(counts)):
        assert counts[step] <= counts[step - 1], summary["cutflow"][step]


def test_summary_files(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)

    assert summary["files"] == [
        {"source": str(real_file(ZMUMU)), "format": "root", "entries": 2304}
    ]
    assert summary["skipped_files"] == []
    assert summary["features"] == list(feature_names("p4"))


def test_summary_relevance_shape(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    relevance = summary["relevance"]

    assert summary["runs"] == 2
    assert summary["latent_dim"] == 8
    assert len(relevance) == summary["runs"]
    for row in relevance:
        assert len(row) == summary["latent_dim"]
        assert row == sorted(row, reverse=True)


def test_summary_runs_differ(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)

    assert summary["seeds"] == [0, 1]
    assert summary["relevance"][0] != summary["relevance"][1]


def test_summary_relevance_mean(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    relevance = np.array(summary["relevance"])

    np.testing.assert_allclose(
        summary["relevance_mean"], relevance.mean(axis=0), rtol=1e-12
    )


def test_summary_relevance_std(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    relevance = np.array(summary["relevance"])

    np.testing.assert_allclose(
        summary["relevance_std"], relevance.std(axis=0, ddof=1), rtol=1e-12
    )


def test_summary_n_relevant(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    threshold = summary["relevance_threshold"]
    expected = [sum(value > threshold for value in row) for row in summary["relevance"]]

    assert threshold == 0.2
    assert summary["n_relevant"] == expected


def test_summary_options_recorded(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    _, outdir = full_run(real_file, completed_runs)
    options = summary["config"]["options"]

    assert options["files"] == [str(real_file(ZMUMU))]
    assert options["treename"] == "events"
    assert options["epochs"] == 2
    assert options["runs"] == 2
    assert options["seed"] == 0
    assert options["relevance_threshold"] == 0.2
    assert options["hidden"] == [64, 64]
    assert options["outdir"] == str(outdir)
    assert options["no_progress"] is True


def test_summary_training_recorded(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    training = summary["config"]["training"]

    assert training["epochs"] == 2
    assert training["runs"] == 2
    assert training["latent_dim"] == 8
    assert training["seed"] == 0
    assert training["beta"] == 0.1
    assert training["hidden"] == [64, 64]


def test_summary_versions(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    versions = summary["versions"]

    assert versions["python"] == platform.python_version()
    for name in analysis.VERSIONED_PACKAGES:
        assert versions[name] == metadata.version(name), name


def test_summary_constraint_moments(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    constraints = summary["constraints"]

    assert sorted(constraints) == sorted(CHECKS)
    for name, moments in constraints.items():
        assert moments["n"] == 2147, name
    assert constraints["m2_mu-"]["unit"] == "GeV^2"
    assert constraints["m_mumu"]["unit"] == "GeV"


def test_report_lists_constraint_checks(real_file, completed_runs):
    _, outdir = full_run(real_file, completed_runs)
    report = (outdir / "report.md").read_text()
    # The moments of the pair's summed px, computed here from the file.
    arrays = flat_arrays(real_file(ZMUMU), None)
    opposite = arrays["Q1"] * arrays["Q2"] < 0
    px_sum = (arrays["px1"] + arrays["px2"])[opposite]

    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")
        for line in report.splitlines()
        if line.startswith("| ") and line.count(" | ") == 6
    }

    assert set(CHECKS) <= set(rows)
    assert rows["px_sum"][1] == str(len(px_sum))
    assert float(rows["px_sum"][2]) == pytest.approx(px_sum.mean(), rel=1e-3)
    assert float(rows["px_sum"][3]) == pytest.approx(px_sum.std(), rel=1e-3)


def test_root_relevance_histogram(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    histograms = full_histograms(real_file, completed_runs)

    values = histograms["relevance"].values()

    np.testing.assert_allclose(values, summary["relevance_mean"], rtol=1e-12)


def test_root_relevance_errors(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    histograms = full_histograms(real_file, completed_runs)

    errors = histograms["relevance"].errors()

    np.testing.assert_allclose(errors, summary["relevance_std"], rtol=1e-12)


def test_root_relevance_per_run(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    histograms = full_histograms(real_file, completed_runs)

    values = histograms["relevance_per_run"].values()

    np.testing.assert_allclose(values, summary["relevance"], rtol=1e-12)


def test_root_latent_histogram_names(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    histograms = full_histograms(real_file, completed_runs)
    suffixes = [
        name.replace("-", "m").replace("+", "p") for name in summary["features"]
    ]
    expected = {
        f"mu{rank}_vs_{suffix}"
        for rank in range(1, summary["latent_dim"] + 1)
        for suffix in suffixes
    }

    names = set(histograms["latent_vs_feature"].keys(cycle=False))

    assert len(expected) == summary["latent_dim"] * len(summary["features"])
    assert names == expected


def test_root_latent_histogram_integrals(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    histograms = full_histograms(real_file, completed_runs)
    folder = histograms["latent_vs_feature"]

    for name in folder.keys(cycle=False):
        total = folder[name].values(flow=True).sum()
        assert total == summary["n_selected"], name


def test_root_constraint_histograms(real_file, completed_runs):
    summary = full_summary(real_file, completed_runs)
    histograms = full_histograms(real_file, completed_runs)
    folder = histograms["constraints"]
    expected = {name.replace("-", "m").replace("+", "p") for name in CHECKS}

    assert set(folder.keys(cycle=False)) == expected
    for name in expected:
        total = folder[name].values(flow=True).sum()
        assert total == summary["n_selected"], name


def test_root_no_initial_state(real_file, completed_runs):
    histograms = full_histograms(real_file, completed_runs)
    names = set(histograms["constraints"].keys(cycle=False))

    assert names.isdisjoint(INITIAL_STATE_CHECKS)


# Determinism


def test_same_seed_same_relevance(real_file, completed_runs):
    options = (*zmumu_options(real_file), *SMALL_OPTIONS)

    first_code, first = completed_runs(options, "first")
    second_code, second = completed_runs(options, "second")
    first_summary = json.loads((first / "summary.json").read_text())
    second_summary = json.loads((second / "summary.json").read_text())

    assert first_code == 0
    assert second_code == 0
    assert first_summary["n_selected"] == second_summary["n_selected"]
    assert first_summary["relevance"] == second_summary["relevance"]
    assert first_summary["final_loss"] == second_summary["final_loss"]


def test_small_run_selection(real_file, completed_runs):
    options = (*zmumu_options(real_file), *SMALL_OPTIONS)
    expected = count_opposite(flat_arrays(real_file(ZMUMU), 600))

    _, outdir = completed_runs(options, "first")
    summary = json.loads((outdir / "summary.json").read_text())

    assert summary["n_events"] == 600
    assert summary["n_selected"] == expected
    assert summary["seeds"] == [7, 8]


def test_user_observables_join_the_correlations(real_file, tmp_path, monkeypatch):
    # A module the user wrote, imported from a folder put on sys.path.
    (tmp_path / "my_observables.py").write_text(
        "def pair_mass(minus, plus):\n    return (minus + plus).mass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    options = (
        *zmumu_options(real_file),
        *SMALL_OPTIONS,
        "--relevance-threshold",
        "0",
        "--observable",
        "m_import=my_observables:pair_mass",
        "--observable",
        "minus_y = -pair.rapidity",
    )

    code = run_main(*options, "--outdir", tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())

    assert code == 0
    assert summary["config"]["options"]["observable"] == [
        "m_import=my_observables:pair_mass",
        "minus_y=-pair.rapidity",
    ]
    table = {
        (row["latent"], row["observable"]): row
        for row in summary["interpretation"]["observable_correlations"]
    }
    latents = sorted({latent for latent, _ in table})
    assert len(latents) == 2
    for latent in latents:
        built_in_mass = table[latent, "m_mumu"]
        built_in_rapidity = table[latent, "y_mumu"]
        assert table[latent, "m_import"]["pearson"] == pytest.approx(
            built_in_mass["pearson"], abs=1e-12
        )
        assert table[latent, "minus_y"]["pearson"] == pytest.approx(
            -built_in_rapidity["pearson"], abs=1e-12
        )
        assert table[latent, "minus_y"]["spearman"] == pytest.approx(
            -built_in_rapidity["spearman"], abs=1e-12
        )


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("pz_mumu=pair.pz +", "is not a Python expression"),
        ("pz_mumu=muon.pz", "name 'muon' is not defined"),
        ("first=minus.pt[:1]", "returned shape (1,), expected (2,)"),
        ("m_mumu=pair.mass", "m_mumu is built in"),
        ("pair.pz", "give NAME=DEFINITION"),
        ("x=absent_module:f", "cannot import 'absent_module'"),
        ("x=pair", "returned a MomentumNumpy4D, not one number per event"),
    ],
)
def test_bad_observable_rejected(definition, message, capsys):
    with pytest.raises(SystemExit) as stop:
        analysis.main(["--observable", definition])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(:\n", "failed: SyntaxError"),
        ("raise RuntimeError('config missing')\n", "RuntimeError: config missing"),
    ],
)
def test_observable_module_failure_rejected(
    source, message, tmp_path, monkeypatch, capsys
):
    (tmp_path / "broken_observables.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(SystemExit) as stop:
        analysis.main(["--observable", "x=broken_observables:f"])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_non_finite_observable_rejected(real_file, tmp_path, capsys):
    # log(pz) of the pair is NaN or infinite wherever pz <= 0.
    arrays = flat_arrays(real_file(ZMUMU), 600)
    opposite = arrays["Q1"] * arrays["Q2"] < 0
    pair_pz = arrays["pz1"] + arrays["pz2"]
    expected_bad = int(np.count_nonzero(opposite & (pair_pz <= 0)))

    code = run_main(
        *zmumu_options(real_file),
        *SMALL_OPTIONS,
        "--observable",
        "log_pz=log(pair.pz)",
        "--outdir",
        tmp_path / "out",
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert (
        f"observable 'log_pz' is NaN or infinite for {expected_bad} of "
        f"{count_opposite(arrays)} selected events"
    ) in stderr


def test_constant_observable_gives_null(real_file, tmp_path):
    code = run_main(
        *zmumu_options(real_file),
        *SMALL_OPTIONS,
        "--relevance-threshold",
        "0",
        "--observable",
        "zero=pair.pz * 0",
        "--outdir",
        tmp_path / "out",
    )
    text = (tmp_path / "out" / "summary.json").read_text()

    def reject(constant):
        raise ValueError(f"summary.json contains {constant}")

    summary = json.loads(text, parse_constant=reject)
    rows = [
        row
        for row in summary["interpretation"]["observable_correlations"]
        if row["observable"] == "zero"
    ]
    assert code == 0
    assert len(rows) == 2
    assert all(row["pearson"] is None for row in rows)
    assert all(row["spearman"] is None for row in rows)
    assert "| n/a |" in (tmp_path / "out" / "report.md").read_text()


def test_observable_needs_dimuon_sample(tmp_path, capsys):
    code = run_main(
        "--sample", "toy-circle", "--observable", "pz=pair.pz", "--outdir", tmp_path
    )

    assert code == 2
    assert "toy sample" in capsys.readouterr().err


def test_observable_needs_interpretation(capsys):
    with pytest.raises(SystemExit) as stop:
        analysis.main(["--observable", "pz=pair.pz", "--no-interpretation"])
    assert stop.value.code == 2
    assert "drop --no-interpretation" in capsys.readouterr().err


# Bad input: exit code 2 and a message on stderr


def test_missing_file(tmp_path, capsys):
    code = run_main("--files", tmp_path / "absent.root", "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"error: input file not found: .*absent\.root", stderr)
    assert not (tmp_path / "out").exists()


def test_corrupt_file(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.root"
    data = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    corrupt.write_bytes(b"junk" + data)

    code = run_main("--files", corrupt, "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(
        r"cannot open .*corrupt\.root: not a readable ROOT file .* and not an "
        r"LHE file",
        stderr,
    )
    assert not (tmp_path / "out").exists()


def test_missing_branches(real_file, tmp_path, capsys):
    path = real_file(SMALL_DY)

    code = run_main("--files", path, "--treename", "tree", "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"tree 'tree' in .*small-dy-withoffsets\.root", stderr)
    assert re.search(r"lacks Muon_eta, Muon_phi, Muon_mass\b", stderr)
    assert re.search(r"Branches present: .*\bMuon_charge, Muon_pt\b", stderr)


def test_wrong_tree_name(real_file, tmp_path, capsys):
    path = real_file(ZMUMU)

    code = run_main(
        "--files", path, "--treename", "Muons", "--outdir", tmp_path / "out"
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"has no tree named 'Muons'", stderr)
    assert re.search(r"trees in the file: events\b", stderr)


def test_malformed_lhe(tmp_path, capsys):
    event = (
        "<event>\n 4 1 1.0 91.0 0.0075 0.13\n"
        " 2 -1 0 0 501 0 0.0 0.0 25.0 25.0 0.0 0.0 9.0\n"
        " -2 -1 0 0 0 501 0.0 0.0 -15.0 15.0 0.0 0.0 9.0\n"
        " 13 1 1 2 0 0 12.5 3.0 20.0 23.75 0.10566 0.0 9.0\n"
        " -13 1 1 2 0 0 -12.5 -3.0 -10.0 16.25 0.10566 0.0 9.0\n"
        "</event>\n"
    )
    broken = event.replace("-3.0", "three")
    text = (
        '<LesHouchesEvents version="3.0">\n<init>\n'
        " 2212 2212 3500.0 3500.0 0 0 10042 10042 3 1\n 1.0 0.1 1.0 1\n</init>\n"
        + event
        + event
        + broken
        + "</LesHouchesEvents>\n"
    )
    source = tmp_path / "malformed.lhe"
    source.write_text(text)

    code = run_main("--files", source, "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"malformed event 3 in .*malformed\.lhe", stderr)


def test_lhe_without_events(tmp_path, capsys):
    source = tmp_path / "header-only.lhe"
    source.write_text(
        '<LesHouchesEvents version="3.0">\n<init>\n'
        " 2212 2212 3500.0 3500.0 0 0 10042 10042 3 1\n 1.0 0.1 1.0 1\n</init>\n"
        "</LesHouchesEvents>\n"
    )

    code = run_main("--files", source, "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"skipped .*header-only\.lhe: the LHE file has no <event>", stderr)
    assert "no events to process: no input file holds an event" in stderr


def test_text_file_as_root(tmp_path, capsys):
    source = tmp_path / "text.root"
    source.write_text("just some text, not a ROOT file\n")

    code = run_main("--files", source, "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    # uproot's message spans three lines; all of it but the path is kept.
    assert "received 32 bytes" in stderr


def test_repeated_file_read_once(real_file, tmp_path, capsys):
    path = real_file(ZMUMU)
    other_spelling = tmp_path / ".." / tmp_path.name / "link.root"
    (tmp_path / "link.root").symlink_to(path)

    code = run_main(
        "--files",
        path,
        path,
        other_spelling,
        "--treename",
        "events",
        *FULL_OPTIONS,
        "--no-interpretation",
        "--outdir",
        tmp_path / "out",
    )
    stderr = capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())

    assert code == 0
    assert f"{path} is given 3 times; it is read once" in stderr
    assert summary["n_events"] == 2304
    assert [entry["source"] for entry in summary["files"]] == [str(path)]


def test_too_few_max_events(real_file, tmp_path, capsys):
    path = real_file(ZMUMU)
    expected = count_opposite(flat_arrays(path, 50))

    code = run_main(
        *zmumu_options(real_file),
        "--max-events",
        "50",
        "--outdir",
        tmp_path / "out",
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(
        rf"too few selected events to train: {expected}, need at least 100", stderr
    )
    assert not (tmp_path / "out").exists()


def test_too_few_small_file(real_file, tmp_path, capsys):
    arrays = flat_arrays(real_file(ZMUMU), 20)
    small = tmp_path / "twenty.root"
    write_flat(small, arrays)
    expected = count_opposite(arrays)

    code = run_main(
        "--files", small, "--treename", "events", "--outdir", tmp_path / "out"
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(rf"too few selected events to train: {expected}\b", stderr)


def test_no_progress_hides_bars(real_file, tmp_path, capsys):
    run_main(
        *zmumu_options(real_file),
        "--max-events",
        "50",
        "--outdir",
        tmp_path / "out",
    )
    captured = capsys.readouterr()

    assert "Processing" not in captured.out
    assert "Processing" not in captured.err


def test_unknown_sample(tmp_path, capsys):
    code = run_main("--sample", "no-such-sample", "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"unknown sample 'no-such-sample'; known samples: ", stderr)
    for name in ("cms-zmumu-2010", "madgraph-dy-7tev", *SAMPLES):
        assert name in stderr, name


def test_sample_and_files(real_file, tmp_path, capsys):
    code = run_main(
        "--sample",
        "cms-zmumu-2010",
        *zmumu_options(real_file),
        "--outdir",
        tmp_path / "out",
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"give either --sample or --files, not both", stderr)


def test_all_files_empty(real_file, tmp_path, capsys):
    arrays = flat_arrays(real_file(ZMUMU), 0)
    first = tmp_path / "empty1.root"
    second = tmp_path / "empty2.root"
    write_flat(first, arrays)
    write_flat(second, arrays)

    code = run_main(
        "--files", first, second, "--treename", "events", "--outdir", tmp_path / "out"
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"no events to process: no input file holds an event", stderr)
    assert re.search(r"skipped .*empty1\.root: tree 'events' has 0 events", stderr)
    assert re.search(r"skipped .*empty2\.root: tree 'events' has 0 events", stderr)


# A constant feature column


def test_constant_feature_trains(real_file, tmp_path):
    arrays = flat_arrays(real_file(ZMUMU), 400)
    for muon in ("1", "2"):
        arrays[f"pz{muon}"] = np.zeros_like(arrays[f"pz{muon}"])
        arrays[f"E{muon}"] = np.sqrt(
            arrays[f"px{muon}"] ** 2 + arrays[f"py{muon}"] ** 2 + MUON_MASS**2
        )
    flat = tmp_path / "transverse.root"
    write_flat(flat, arrays)
    outdir = tmp_path / "out"

    code = run_main(
        "--files",
        flat,
        "--treename",
        "events",
        "--epochs",
        "1",
        "--runs",
        "1",
        "--latent-dim",
        "2",
        "--outdir",
        outdir,
    )
    summary = json.loads((outdir / "summary.json").read_text())

    assert code == 0
    assert summary["n_selected"] == count_opposite(arrays)
    assert np.isfinite(summary["relevance"]).all()
    assert np.isfinite(summary["relevance_mean"]).all()
    assert np.isfinite(summary["final_loss"]["loss"]).all()
    assert summary["constraints"]["pz_sum"]["max"] == 0.0
    assert summary["constraints"]["pz_sum"]["min"] == 0.0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--lr", "-1"),
        ("--lr", "nan"),
        ("--beta", "0"),
        ("--relevance-threshold", "nan"),
    ],
)
def test_invalid_number_rejected(option, value, capsys):
    with pytest.raises(SystemExit) as stop:
        analysis.main([option, value])
    assert stop.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_outdir_is_file(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")

    code = run_main("--sample", "toy-square", "--outdir", taken)
    stderr = capsys.readouterr().err

    assert code == 2
    assert re.search(r"--outdir .*taken is an existing file", stderr)
    assert taken.read_text() == "not a folder"


def test_unwritable_cache(real_file, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("LATENT_SYMMETRIES_CACHE", str(blocker))

    code = run_main("--sample", "madgraph-dy-7tev", "--outdir", tmp_path / "out")
    stderr = capsys.readouterr().err

    assert code == 2
    assert "cannot create the cache folder" in stderr
    assert "LATENT_SYMMETRIES_CACHE" in stderr


def test_reproduce_unknown_experiment(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        analysis.main(["reproduce", "--only", "bogus", "--outdir", str(tmp_path)])
    assert stop.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_stale_outputs_removed(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "constraints.png").write_bytes(b"old")
    (outdir / "notes.txt").write_text("mine")

    code = run_main(
        "--sample",
        "toy-square",
        "--runs",
        "1",
        "--epochs",
        "1",
        "--outdir",
        outdir,
        "--no-interpretation",
    )

    assert code == 0
    assert not (outdir / "constraints.png").exists()
    assert (outdir / "notes.txt").read_text() == "mine"
    assert (outdir / "summary.json").exists()
