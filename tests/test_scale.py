"""The analysis gives the same numbers on every executor, and batch options."""

import json

import pytest

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
