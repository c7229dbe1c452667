"""Tests of processors.executors: the same output from every executor, batch
job scripts, connection errors, cleanup, and a dask worker killed mid-run.

Every dask cluster here binds to 127.0.0.1 and has no dashboard.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

import dask.config
import numpy as np
import pytest
import uproot
from coffea import processor
from coffea.nanoevents import BaseSchema
from dask_jobqueue.core import Job, JobQueueCluster
from distributed.core import Status

from processors.dimuon import CUTFLOW_STEPS, DimuonProcessor, order_features
from processors.executors import (
    PROJECT_ROOT,
    ExecutorConfigError,
    SchedulerUnreachableError,
    WorkerImportError,
    check_worker_imports,
    job_script,
    jobqueue_arguments,
    make_executor,
    walltime_seconds,
)

MUON_MASS = 0.1057  # GeV
# Filled in the driver only: a worker forked from it finds the entry, and a
# worker started as a fresh interpreter imports this module anew without it.
DRIVER_ONLY = []
FILE_SIZES = (1200, 700, 1700, 37)
CHUNKSIZE = 150


def _flat_events(first: int, n: int, rng) -> dict[str, np.ndarray]:
    """Two muons per event with charges fixed by the global event index ``i``.

    Muon 1 has charge -1 for even ``i`` and +1 for odd ``i``. Muon 2 has the
    opposite charge, except when ``i % 7 == 0``, where both have the same
    charge. ``E1`` is NaN when ``i % 11 == 5``.
    """
    index = np.arange(first, first + n)
    q1 = np.where(index % 2 == 0, -1, 1).astype(np.int32)
    q2 = np.where(index % 7 == 0, q1, -q1).astype(np.int32)
    branches = {}
    for muon, charge in (("1", q1), ("2", q2)):
        px, py, pz = rng.normal(0.0, 25.0, size=(3, n))
        branches[f"E{muon}"] = np.sqrt(px**2 + py**2 + pz**2 + MUON_MASS**2)
        branches[f"px{muon}"] = px
        branches[f"py{muon}"] = py
        branches[f"pz{muon}"] = pz
        branches[f"Q{muon}"] = charge
    branches["E1"][index % 11 == 5] = np.nan
    return branches


def _expected_features(branches: dict[str, np.ndarray]) -> np.ndarray:
    """Return the p4 feature rows (mu- then mu+) of the selected events."""
    opposite = branches["Q1"] != branches["Q2"]
    first_is_minus = branches["Q1"] < 0
    columns = []
    for minus in (True, False):
        use_first = first_is_minus if minus else ~first_is_minus
        for component in ("px", "py", "pz", "E"):
            values = np.where(
                use_first, branches[f"{component}1"], branches[f"{component}2"]
            )
            columns.append(values)
    matrix = np.column_stack(columns)[opposite]
    return matrix[np.isfinite(matrix).all(axis=1)]


@pytest.fixture(scope="module")
def dimuon_files(tmp_path_factory):
    """Write the flat dimuon files and return their fileset and expected output."""
    folder = tmp_path_factory.mktemp("dimuon")
    rng = np.random.default_rng(20240611)
    paths, expected_rows = [], []
    opposite = finite = 0
    first = 0
    for number, size in enumerate(FILE_SIZES):
        branches = _flat_events(first, size, rng)
        first += size
        path = folder / f"flat_{number}.root"
        with uproot.recreate(path) as root_file:
            root_file["Events"] = branches
        paths.append(str(path))
        rows = _expected_features(branches)
        expected_rows.append(rows)
        opposite += int(np.count_nonzero(branches["Q1"] != branches["Q2"]))
        finite += len(rows)
    total = sum(FILE_SIZES)
    return {
        "fileset": {"flat": {"files": {p: "Events" for p in paths}}},
        "paths": paths,
        "cutflow": {
            "events read": total,
            "two or more muons": total,
            "opposite-charge pair": opposite,
            "finite features": finite,
        },
        "features": np.concatenate(expected_rows),
    }


def _run(executor, fileset, chunksize=CHUNKSIZE):
    runner = processor.Runner(
        executor=executor,
        pre_executor=processor.IterativeExecutor(status=False),
        schema=BaseSchema,
        chunksize=chunksize,
    )
    chunks = list(runner.preprocess(fileset))
    output = runner.run(chunks, DimuonProcessor("p4"))["out"]["flat"]
    return output, chunks


def _features(output, dimuon_files):
    return order_features(output["features"], dimuon_files["paths"])


@pytest.fixture(scope="module")
def iterative_output(dimuon_files):
    with make_executor("iterative", status=False) as setup:
        output, chunks = _run(setup.executor, dimuon_files["fileset"])
    return output, chunks


def test_fileset_has_many_chunks(iterative_output):
    _, chunks = iterative_output
    assert len(chunks) >= 20
    assert len({chunk.filename for chunk in chunks}) == len(FILE_SIZES)


def test_iterative_matches_expected_events(iterative_output, dimuon_files):
    output, _ = iterative_output
    expected = dimuon_files["cutflow"]
    assert tuple(output["cutflow"]) == CUTFLOW_STEPS
    assert output["cutflow"] == expected
    assert expected["opposite-charge pair"] < expected["events read"]
    assert expected["finite features"] < expected["opposite-charge pair"]
    features = _features(output, dimuon_files)
    np.testing.assert_array_equal(features, dimuon_files["features"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["futures", "dask"])
def test_executor_matches_iterative(kind, iterative_output, dimuon_files):
    reference, reference_chunks = iterative_output
    with make_executor(kind, workers=2, status=False, dashboard=False) as setup:
        output, chunks = _run(setup.executor, dimuon_files["fileset"])
        if kind == "dask":
            assert setup.scheduler_address.startswith("tcp://127.0.0.1:")
            assert len(setup.client.scheduler_info()["workers"]) == 2

    assert chunks == reference_chunks
    assert output["cutflow"] == reference["cutflow"]
    assert set(output["features"]) == set(reference["features"])
    np.testing.assert_array_equal(
        _features(output, dimuon_files), _features(reference, dimuon_files)
    )
    assert set(output["histograms"]) == set(reference["histograms"])
    for name, histogram in output["histograms"].items():
        expected = reference["histograms"][name]
        assert histogram.axes == expected.axes, name
        np.testing.assert_array_equal(
            histogram.values(flow=True), expected.values(flow=True), err_msg=name
        )
        np.testing.assert_array_equal(
            histogram.variances(flow=True),
            expected.variances(flow=True),
            err_msg=name,
        )
    # Sums of floats depend on the merge order, so only the counts and the
    # extremes must agree exactly.
    for name, moments in output["moments"].items():
        expected = reference["moments"][name]
        assert moments.n == expected.n, name
        assert moments.minimum == expected.minimum, name
        assert moments.maximum == expected.maximum, name
        assert moments.total == pytest.approx(expected.total, rel=1e-12, abs=1e-9)
        assert moments.sumsq == pytest.approx(expected.sumsq, rel=1e-12)


def _chunk_keys(keys) -> list[str]:
    # coffea's DaskExecutor names each chunk task after the processor class.
    return sorted(key for key in keys if str(key).startswith("DimuonProcessor-"))


def _kill_worker_holding_chunks(client, record, stop, min_chunks=2):
    """Kill the worker process with the most finished chunks in memory.

    Waits until one worker has at least ``min_chunks`` chunk results in
    memory, so that they are lost with it and must be computed again.
    """
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        holdings = {
            worker: _chunk_keys(keys) for worker, keys in client.has_what().items()
        }
        worker = max(holdings, key=lambda address: len(holdings[address]))
        if len(holdings[worker]) >= min_chunks:
            record["worker"] = worker
            record["chunks"] = holdings[worker]
            record["time"] = time.monotonic()
            os.kill(pids[worker], signal.SIGKILL)
            return
        time.sleep(0.01)


@pytest.mark.slow
def test_dask_recovers_from_killed_worker(dimuon_files):
    with make_executor("dask", workers=2, status=False, dashboard=False) as setup:
        client = setup.client
        record, stop = {}, threading.Event()
        killer = threading.Thread(
            target=_kill_worker_holding_chunks, args=(client, record, stop)
        )
        killer.start()
        try:
            output, chunks = _run(setup.executor, dimuon_files["fileset"], 60)
            finished = time.monotonic()
        finally:
            stop.set()
            killer.join()
        workers_after = set(client.scheduler_info()["workers"])
        stories = {key: setup.cluster.scheduler.story(key) for key in record["chunks"]}

    assert len(chunks) >= 50
    assert "worker" in record, "the run ended before a worker held finished chunks"
    assert record["time"] < finished
    assert record["worker"] not in workers_after
    for key, story in stories.items():
        computed = sum(1 for entry in story if entry[2] == "memory")
        assert computed >= 2, f"chunk {key} lost with the worker was not recomputed"
    assert output["cutflow"] == dimuon_files["cutflow"]
    assert len(output["features"]) == len(chunks)
    np.testing.assert_array_equal(
        _features(output, dimuon_files), dimuon_files["features"]
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_dask_setup_closes_on_keyboard_interrupt():
    with (
        pytest.raises(KeyboardInterrupt),
        make_executor("dask", workers=1, status=False, dashboard=False) as setup,
    ):
        pids = list(setup.client.run(os.getpid).values())
        raise KeyboardInterrupt

    assert setup.cluster.status == Status.closed
    assert setup.client.status == "closed"
    deadline = time.monotonic() + 10
    while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_pid_alive(pid) for pid in pids)


@pytest.mark.slow
def test_worker_import_check_names_package():
    with make_executor("dask", workers=1, status=False, dashboard=False) as setup:
        check_worker_imports(setup.client)
        with pytest.raises(WorkerImportError, match="no_such_package_for_test"):
            check_worker_imports(setup.client, ("models", "no_such_package_for_test"))


def test_unreachable_scheduler_names_address():
    # A bound socket that never listens refuses connections, and holding it
    # keeps the port from being reused while the test runs.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
        start = time.monotonic()
        with (
            pytest.raises(SchedulerUnreachableError, match=address),
            make_executor("dask", scheduler=address, connect_timeout=2, status=False),
        ):
            pass
        elapsed = time.monotonic() - start
    assert elapsed < 2 + 5


@pytest.fixture
def jobqueue_records(monkeypatch):
    """Record every job submission and every closed jobqueue cluster."""
    submitted, closed = [], []

    async def fail_submit(self, script_filename):
        submitted.append(script_filename)
        raise AssertionError("a job was submitted")

    original_close = JobQueueCluster.close

    def record_close(self, *args, **kwargs):
        closed.append(self)
        return original_close(self, *args, **kwargs)

    monkeypatch.setattr(Job, "_submit_job", fail_submit)
    monkeypatch.setattr(JobQueueCluster, "close", record_close)
    return submitted, closed


JOB_OPTIONS = {
    "cores": 4,
    "memory": "8GB",
    "walltime": "01:30:00",
    "queue": "short",
    "account": "phys",
}
EXPECTED_DIRECTIVES = {
    "slurm": (
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8G",
        "#SBATCH -t 01:30:00",
        "#SBATCH -p short",
        "#SBATCH -A phys",
    ),
    "pbs": (
        "#PBS -l select=1:ncpus=4:mem=7630MB",
        "#PBS -l walltime=01:30:00",
        "#PBS -q short",
        "#PBS -A phys",
    ),
    "lsf": (
        "#BSUB -n 4",
        "#BSUB -M 8000",
        "#BSUB -W 01:30",
        "#BSUB -q short",
        '#BSUB -P "phys"',
    ),
    "htcondor": (
        "#!/usr/bin/env condor_submit",
        "RequestCpus = MY.DaskWorkerCores",
        "MY.DaskWorkerCores = 4",
        "MY.DaskWorkerMemory = 8000000000",
        "MY.DaskWorkerDisk = 2000000000",
        "allowed_execute_duration = 5400",
        "accounting_group = phys",
        "Executable = /bin/sh",
    ),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_DIRECTIVES))
def test_job_script_directives(kind, jobqueue_records, tmp_path):
    options = dict(JOB_OPTIONS, jobs=3)
    if kind == "htcondor":
        del options["queue"]
        options["disk"] = "2GB"
    if kind == "lsf":
        # Fix the memory unit, which LSF otherwise reads from lsf.conf.
        config = tmp_path / "lsf.yaml"
        config.write_text("jobqueue:\n  lsf:\n    lsf-units: mb\n")
        options["config"] = config

    script = job_script(kind, **options)

    lines = script.splitlines()
    for directive in EXPECTED_DIRECTIVES[kind]:
        assert directive in lines, f"{directive!r} missing from\n{script}"
    assert "--nworkers 4" in script
    assert "--nthreads 1" in script
    assert f"export PYTHONPATH={PROJECT_ROOT}" in script
    submitted, closed = jobqueue_records
    assert submitted == []
    assert len(closed) == 1
    assert closed[0].status == Status.closed


def test_job_script_reads_dask_config(jobqueue_records, tmp_path):
    config = tmp_path / "site.yaml"
    config.write_text(
        "jobqueue:\n"
        "  slurm:\n"
        "    cores: 2\n"
        "    memory: 3GB\n"
        "    walltime: '00:20:00'\n"
        "    job-extra-directives: ['--constraint=haswell']\n"
    )

    from_config = job_script("slurm", config=config).splitlines()
    overridden = job_script("slurm", config=config, cores=6).splitlines()

    assert "#SBATCH --cpus-per-task=2" in from_config
    assert "#SBATCH -t 00:20:00" in from_config
    assert "#SBATCH --constraint=haswell" in from_config
    assert "#SBATCH --cpus-per-task=6" in overridden
    assert "#SBATCH --constraint=haswell" in overridden


def test_job_script_config_errors(tmp_path):
    other = tmp_path / "pbs.yaml"
    other.write_text("jobqueue:\n  pbs:\n    cores: 2\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("jobqueue: [unclosed\n")

    with pytest.raises(ExecutorConfigError, match="not for slurm"):
        job_script("slurm", config=other, memory="1GB")
    with pytest.raises(ExecutorConfigError, match="not found"):
        job_script("slurm", config=tmp_path / "missing.yaml")
    with pytest.raises(ExecutorConfigError, match="broken.yaml"):
        job_script("slurm", config=broken)
    with pytest.raises(ExecutorConfigError, match="pbs jobs need cores, memory"):
        job_script("pbs")
    with pytest.raises(ExecutorConfigError, match="htcondor jobs need disk"):
        job_script("htcondor", cores=1, memory="1GB")


def test_jobqueue_arguments_per_system():
    job = {"cores": 8, "memory": "16GB"}
    lsf = jobqueue_arguments("lsf", {**job, "walltime": "01:30:20", "account": "x"})
    slurm = jobqueue_arguments("slurm", {**job, "processes": 2})
    htcondor = {**job, "disk": "1GB"}

    assert lsf["walltime"] == "01:31"
    assert lsf["project"] == "x"
    assert "account" not in lsf
    assert slurm["processes"] == 2
    assert walltime_seconds("36:00:05") == 36 * 3600 + 5
    with pytest.raises(ExecutorConfigError, match="HTCondor has no queues"):
        jobqueue_arguments("htcondor", {**htcondor, "queue": "short"})
    with pytest.raises(ExecutorConfigError, match="HH:MM:SS"):
        jobqueue_arguments("slurm", {**job, "walltime": "90"})
    with pytest.raises(ExecutorConfigError, match="invalid memory"):
        jobqueue_arguments("slurm", {**job, "memory": "lots"})
    with pytest.raises(ExecutorConfigError, match="only 2 cores"):
        jobqueue_arguments("slurm", {**job, "cores": 2, "processes": 4})
    with pytest.raises(ExecutorConfigError, match="applies to htcondor"):
        jobqueue_arguments("pbs", {**job, "disk": "1GB"})
    with pytest.raises(ExecutorConfigError, match="unknown batch job option nodes"):
        jobqueue_arguments("slurm", {**job, "nodes": 2})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "spark"}, "unknown executor 'spark'"),
        ({"kind": "futures", "workers": 0}, "invalid number of workers"),
        ({"kind": "iterative", "scheduler": "tcp://127.0.0.1:1"}, "needs the dask"),
        (
            {"kind": "dask", "scheduler": "tcp://127.0.0.1:1", "cluster": "slurm"},
            "not both",
        ),
        ({"kind": "dask", "cluster": "sge"}, "unknown batch cluster 'sge'"),
        ({"kind": "dask", "cluster_options": {"cores": 4}}, "need a batch cluster"),
    ],
)
def test_make_executor_rejects_bad_arguments(arguments, message):
    with (
        pytest.raises(ExecutorConfigError, match=message),
        make_executor(**arguments),
    ):
        pass


def test_jobqueue_cluster_without_jobs(jobqueue_records, tmp_path):
    config = tmp_path / "site.yaml"
    config.write_text("jobqueue:\n  slurm:\n    queue: short\n")
    options = {
        "cores": 1,
        "memory": "1GB",
        "jobs": 0,
        "interface": "lo",
        "config": config,
    }
    with make_executor(
        "dask", cluster="slurm", cluster_options=options, dashboard=False
    ) as setup:
        assert setup.scheduler_address.startswith("tcp://127.0.0.1:")
        assert setup.client.scheduler_info()["workers"] == {}
        assert setup.dashboard_link is None
        assert "#SBATCH -p short" in setup.cluster.job_script().splitlines()
        assert dask.config.get("jobqueue.slurm.queue") == "short"

    assert dask.config.get("jobqueue.slurm.queue") is None
    submitted, closed = jobqueue_records
    assert submitted == []
    assert closed
    assert all(cluster is setup.cluster for cluster in closed)
    assert setup.cluster.status == Status.closed


def test_jobqueue_cluster_needs_submit_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    options = {"cores": 1, "memory": "1GB", "jobs": 2}
    with (
        pytest.raises(ExecutorConfigError, match="sbatch is not on PATH"),
        make_executor("dask", cluster="slurm", cluster_options=options),
    ):
        pass


def _driver_entries() -> int:
    return len(DRIVER_ONLY)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork on Linux only")
def test_futures_workers_fork_from_driver():
    DRIVER_ONLY.append("set in the driver")
    try:
        with (
            make_executor("futures", workers=1, status=False) as setup,
            setup.executor.pool(max_workers=1) as pool,
        ):
            seen = pool.submit(_driver_entries).result()
    finally:
        DRIVER_ONLY.clear()

    assert seen == 1
