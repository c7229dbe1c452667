"""The analysis gives the same numbers on every executor, and batch options."""

import json

import numpy as np
import pytest
import uproot

import analysis

COMMON = ["--runs", "2", "--epochs", "2", "--chunksize", "400", "--no-progress"]


def _summary(path):
    with open(path / "summary.json") as stream:
        return json.load(stream)


@pytest.fixture(scope="module")
def summaries(tmp_path_factory, real_file):
    source = str(real_file("uproot-Zmumu.root"))
    results = {}
    variants = {
        "iterative": ["--executor", "iterative"],
        "futures": ["--executor", "futures"],
        "dask": ["--executor", "dask"],
        "dask-training": ["--executor", "dask", "--distribute-training"],
    }
    for name, extra in variants.items():
        outdir = tmp_path_factory.mktemp(name)
        options = ["--files", source, "--treename", "events", "--outdir", str(outdir)]
        code = analysis.main([*options, *COMMON, "--no-interpretation", *extra])
        assert code == 0
        results[name] = _summary(outdir)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["futures", "dask"])
def test_executor_same_cutflow(summaries, executor):
    assert summaries[executor]["cutflow"] == summaries["iterative"]["cutflow"]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["futures", "dask", "dask-training"])
def test_executor_same_relevance(summaries, executor):
    assert summaries[executor]["relevance"] == summaries["iterative"]["relevance"]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["futures", "dask"])
def test_executor_same_constraints(summaries, executor):
    assert summaries[executor]["constraints"] == summaries["iterative"]["constraints"]


def test_selected_count_on_dask(summaries):
    assert summaries["dask"]["n_selected"] == 2147


@pytest.mark.parametrize(
    ("system", "directive"),
    [("slurm", "#SBATCH"), ("pbs", "#PBS"), ("lsf", "#BSUB")],
)
def test_print_job_script(system, directive, capsys):
    options = ["--cluster", system, "--cores", "4", "--memory", "8GB"]
    code = analysis.main([*options, "--walltime", "02:00:00", "--print-job-script"])
    printed = capsys.readouterr().out
    assert code == 0
    assert directive in printed
    assert "02:00" in printed


def test_job_script_needs_cluster(capsys):
    with pytest.raises(SystemExit) as stop:
        analysis.main(["--print-job-script"])
    assert stop.value.code == 2
    assert "--print-job-script needs --cluster" in capsys.readouterr().err


def test_scheduler_needs_dask(capsys):
    with pytest.raises(SystemExit) as stop:
        analysis.main(["--scheduler", "tcp://127.0.0.1:1"])
    assert stop.value.code == 2
    assert "need --executor dask" in capsys.readouterr().err


def test_cap_keeps_smallest_keys():
    features = np.arange(20, dtype=float).reshape(10, 2)
    keys = np.array([0.9, 0.1, 0.5, 0.3, 0.8, 0.2, 0.7, 0.6, 0.4, 0.05])

    capped = analysis.cap_training_events(features, keys, 3, seed=0)

    np.testing.assert_array_equal(capped[:, 0], [2.0, 10.0, 18.0])


def test_cap_leaves_small_input():
    features = np.ones((4, 2))
    capped = analysis.cap_training_events(features, np.empty(0), 10, seed=0)
    assert capped.shape == (4, 2)


@pytest.fixture(scope="module")
def capped(tmp_path_factory, real_file):
    source = str(real_file("uproot-Zmumu.root"))
    results = {}
    for executor in ("iterative", "dask"):
        outdir = tmp_path_factory.mktemp(f"capped-{executor}")
        options = ["--files", source, "--treename", "events", "--outdir", str(outdir)]
        extra = ["--executor", executor, "--max-train-events", "1000"]
        code = analysis.main([*options, *COMMON, "--no-interpretation", *extra])
        assert code == 0
        results[executor] = _summary(outdir)
    return results


@pytest.mark.slow
def test_capped_training_count(capped):
    assert capped["iterative"]["n_train"] == 1000
    assert capped["iterative"]["n_selected"] == 2147
    assert capped["iterative"]["max_train_events"] == 1000


@pytest.mark.slow
def test_capped_same_on_dask(capped):
    assert capped["dask"]["relevance"] == capped["iterative"]["relevance"]
    assert capped["dask"]["n_train"] == 1000


def _write_flat(path, n_events, seed):
    rng = np.random.default_rng(seed)
    branches = {}
    for muon, charge in (("1", -1), ("2", 1)):
        momentum = rng.normal(0, 30, size=(n_events, 3))
        branches[f"px{muon}"] = momentum[:, 0]
        branches[f"py{muon}"] = momentum[:, 1]
        branches[f"pz{muon}"] = momentum[:, 2]
        branches[f"E{muon}"] = np.sqrt((momentum**2).sum(axis=1) + 0.0112)
        branches[f"Q{muon}"] = np.full(n_events, charge, dtype=np.int32)
    with uproot.recreate(path) as output:
        output.mktree("events", {name: v.dtype for name, v in branches.items()})
        output["events"].extend(branches)


def _vanishing_file_run(tmp_path, monkeypatch, extra):
    good = tmp_path / "good.root"
    lost = tmp_path / "lost.root"
    _write_flat(good, 300, seed=1)
    _write_flat(lost, 200, seed=2)
    prepare = analysis.prepare_input

    def prepare_then_lose(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        lost.unlink()
        return prepared

    monkeypatch.setattr(analysis, "prepare_input", prepare_then_lose)
    outdir = tmp_path / "out"
    options = ["--files", str(good), str(lost), "--treename", "events"]
    code = analysis.main(
        [*options, "--outdir", str(outdir), *COMMON, "--no-interpretation", *extra]
    )
    return code, outdir


def test_vanished_file_fails(tmp_path, monkeypatch, capsys):
    code, outdir = _vanishing_file_run(tmp_path, monkeypatch, [])
    stderr = capsys.readouterr().err
    assert code == 2
    assert "processing failed" in stderr
    assert "lost.root" in stderr
    assert not (outdir / "summary.json").exists()


def test_vanished_file_skipped(tmp_path, monkeypatch):
    code, outdir = _vanishing_file_run(tmp_path, monkeypatch, ["--skip-bad-files"])
    summary = _summary(outdir)
    skipped = summary["skipped_files"]
    assert code == 0
    assert summary["n_events"] == 300
    assert [s["entries"] for s in skipped] == [200]
    assert skipped[0]["source"].endswith("lost.root")
    assert skipped[0]["reason"] == "unreadable during processing"


def _damaged_copy(source, target):
    """Copy ``source`` and zero 20 000 bytes of its compressed baskets, which
    leaves the header and the tree's metadata readable."""
    data = bytearray(source.read_bytes())
    data[40_000:60_000] = bytes(20_000)
    target.write_bytes(bytes(data))


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_damaged_baskets_skipped(executor, real_file, tmp_path):
    good = tmp_path / "good.root"
    _write_flat(good, 300, seed=1)
    damaged = tmp_path / "damaged.root"
    _damaged_copy(real_file("uproot-Zmumu.root"), damaged)
    outdir = tmp_path / "out"

    code = analysis.main(
        ["--files", str(damaged), str(good), "--treename", "events"]
        + ["--outdir", str(outdir), "--executor", executor, "--skip-bad-files"]
        + [*COMMON, "--no-interpretation"]
    )
    summary = _summary(outdir)

    skipped = summary["skipped_files"]
    assert code == 0
    assert summary["n_events"] == 300
    # coffea cuts the 2304 entries into 6 chunks of 384, and every chunk
    # reads the damaged baskets.
    assert [s["source"] for s in skipped] == [str(damaged)] * 6
    assert [s["entries"] for s in skipped] == [384] * 6


def test_damaged_baskets_named(real_file, tmp_path, capsys):
    damaged = tmp_path / "damaged.root"
    _damaged_copy(real_file("uproot-Zmumu.root"), damaged)

    code = analysis.main(
        ["--files", str(damaged), "--treename", "events"]
        + ["--outdir", str(tmp_path / "out"), *COMMON, "--no-interpretation"]
    )
    stderr = capsys.readouterr().err

    assert code == 2
    assert f"processing failed on entries 0-384 of {damaged}" in stderr
    assert "--skip-bad-files skips it" in stderr
