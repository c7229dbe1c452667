"""Executors that run the dimuon processor, and the dask clusters behind them.

:func:`make_executor` is a context manager that yields an :class:`ExecutorSetup`
holding a coffea executor:

``iterative``
    every chunk in the driver's process, one after another;
``futures``
    a local pool of ``workers`` processes, forked from the driver on Linux;
``dask``
    a ``distributed.Client`` on one of three clusters: an existing scheduler
    (``scheduler="tcp://host:port"``), a batch system through dask-jobqueue
    (``cluster`` in :data:`JOBQUEUE_CLUSTERS`), or else a ``LocalCluster`` of
    ``workers`` single-threaded processes bound to 127.0.0.1.

The context manager closes every client and cluster it started when the block
ends, also on an exception or ``KeyboardInterrupt``. It leaves a scheduler it
only connected to running.

Dask workers unpickle the processor by reference, so they must be able to
import the packages of this project (:data:`PROJECT_PACKAGES`). Local workers
inherit the driver's ``sys.path``. Workers elsewhere need the project installed
in their environment (``pip install -e .``) or on their ``PYTHONPATH``, and
batch jobs started here get the project folder on ``PYTHONPATH`` in their job
script.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import multiprocessing
import re
import shlex
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coffea import processor

KINDS = ("iterative", "futures", "dask")
JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "htcondor": "HTCondorCluster",
    "pbs": "PBSCluster",
    "lsf": "LSFCluster",
}
CLUSTER_OPTIONS = (
    "cores",
    "memory",
    "walltime",
    "queue",
    "account",
    "jobs",
    "processes",
    "disk",
    "interface",
    "config",
)
PROJECT_PACKAGES = ("processors.dimuon", "models", "samples")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONNECT_TIMEOUT = 10.0
LOCAL_DASHBOARD_ADDRESS = "127.0.0.1:8787"

_WALLTIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")


class ExecutorError(Exception):
    """An executor or its dask cluster could not be set up."""


class ExecutorConfigError(ExecutorError, ValueError):
    """An invalid or conflicting executor or cluster option."""


class SchedulerUnreachableError(ExecutorError, ConnectionError):
    """The connection to a dask scheduler timed out or was refused."""


class WorkerImportError(ExecutorError, RuntimeError):
    """Dask workers cannot import the packages that the processor needs."""


@dataclass
class ExecutorSetup:
    """A coffea executor and the dask objects that it runs on.

    ``client`` and ``cluster`` are None for the ``iterative`` and ``futures``
    kinds, and ``cluster`` is None for a scheduler given by address.
    ``dashboard_link`` is None when no dashboard was started. The page itself
    needs the ``bokeh`` package in the scheduler's environment.
    """

    kind: str
    executor: processor.ExecutorBase
    client: Any = None
    cluster: Any = None
    dashboard_link: str | None = None

    @property
    def scheduler_address(self) -> str | None:
        """Address of the connected dask scheduler, or None without dask."""
        if self.client is None:
            return None
        return self.client.scheduler.address


@contextmanager
def make_executor(
    kind: str,
    workers: int = 2,
    status: bool = True,
    scheduler: str | None = None,
    cluster: str | None = None,
    cluster_options: Mapping[str, Any] | None = None,
    *,
    retries: int = 3,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    dashboard: bool = True,
) -> Iterator[ExecutorSetup]:
    """Start what a coffea executor of ``kind`` needs and yield it.

    Parameters
    ----------
    kind
        ``"iterative"``, ``"futures"`` or ``"dask"``.
    workers
        Processes of the ``futures`` pool or of the dask ``LocalCluster``.
    status
        Show coffea's progress bar.
    scheduler
        Address ``tcp://host:port`` of a running dask scheduler (``dask`` only).
    cluster
        Batch system to start dask workers on: a key of
        :data:`JOBQUEUE_CLUSTERS` (``dask`` only).
    cluster_options
        Settings of the batch jobs, see :func:`jobqueue_arguments`; ``jobs``
        is the number of jobs to submit (default 1).
    retries
        Times coffea, or dask for the ``dask`` kind, reruns a chunk whose
        processing raised. Dask recomputes chunks lost with a dead worker
        without counting them here. A chunk that was running on more than
        ``distributed.scheduler.allowed-failures`` dead workers (default 3)
        fails with ``KilledWorker``.
    connect_timeout
        Seconds to wait for the scheduler given by ``scheduler``.
    dashboard
        Serve the dask dashboard on 127.0.0.1, port 8787 or the next free one.

    Raises
    ------
    ExecutorConfigError
        For an unknown kind or cluster, an invalid option, or options that do
        not go together.
    SchedulerUnreachableError
        If connecting to ``scheduler`` fails within ``connect_timeout``.
    WorkerImportError
        If a connected dask worker cannot import :data:`PROJECT_PACKAGES`.
    """
    check_executor_arguments(kind, workers, scheduler, cluster, cluster_options)
    if kind == "iterative":
        executor = processor.IterativeExecutor(status=status, retries=retries)
        yield ExecutorSetup(kind, executor)
        return
    if kind == "futures":
        # Without compression the driver merges chunk outputs directly instead
        # of decompressing and recompressing them after every batch.
        executor = processor.FuturesExecutor(
            workers=workers,
            status=status,
            retries=retries,
            compression=None,
            **_futures_pool(),
        )
        yield ExecutorSetup(kind, executor)
        return

    with ExitStack() as stack:
        if scheduler is not None:
            client = connect_scheduler(scheduler, connect_timeout)
            stack.callback(client.close)
            dask_cluster, link = None, None
        elif cluster is not None:
            dask_cluster, client = _start_jobqueue(
                stack, cluster, dict(cluster_options or {}), dashboard
            )
            link = dask_cluster.dashboard_link if dashboard else None
        else:
            dask_cluster, client = _start_local_cluster(stack, workers, dashboard)
            link = dask_cluster.dashboard_link if dashboard else None
        check_worker_imports(client)
        # coffea's progress bar looks up the current client, so make this one
        # current while the executor is in use.
        stack.enter_context(client.as_current())
        executor = processor.DaskExecutor(client=client, status=status, retries=retries)
        yield ExecutorSetup(kind, executor, client, dask_cluster, link)


def _futures_pool() -> dict:
    """Return the ``pool`` option of the futures executor for this platform.

    coffea's default pool, loky, starts each worker as a fresh interpreter
    that imports coffea, awkward and uproot again: on 2 cores that took 1.1 to
    1.4 s per run, longer than processing 2 million events. On Linux the
    workers are forked from the driver instead, with those modules already
    loaded. Forking a process with threads can leave their state, such as
    torch's thread pool or the progress bar's lock, inconsistent in the
    child, but the workers only read files and run the processor and touch
    neither. Elsewhere (macOS, Windows) fork is unsafe or missing, and loky
    stays.
    """
    if sys.platform != "linux":
        return {}
    context = multiprocessing.get_context("fork")
    return {
        "pool": functools.partial(
            concurrent.futures.ProcessPoolExecutor, mp_context=context
        )
    }


def check_executor_arguments(kind, workers, scheduler, cluster, cluster_options):
    """Raise :class:`ExecutorConfigError` for arguments that do not fit together."""
    if kind not in KINDS:
        msg = f"unknown executor {kind!r}: choose one of {', '.join(KINDS)}"
        raise ExecutorConfigError(msg)
    if not isinstance(workers, int) or workers < 1:
        msg = f"invalid number of workers {workers!r}: expected a positive integer"
        raise ExecutorConfigError(msg)
    if kind != "dask" and (scheduler is not None or cluster is not None):
        msg = (
            f"a scheduler address or a batch cluster needs the dask executor, "
            f"not {kind!r}"
        )
        raise ExecutorConfigError(msg)
    if scheduler is not None and cluster is not None:
        msg = (
            f"give either a scheduler address ({scheduler}) or a batch cluster "
            f"({cluster}), not both"
        )
        raise ExecutorConfigError(msg)
    if cluster is not None and cluster not in JOBQUEUE_CLUSTERS:
        msg = (
            f"unknown batch cluster {cluster!r}: choose one of "
            f"{', '.join(JOBQUEUE_CLUSTERS)}"
        )
        raise ExecutorConfigError(msg)
    options = cluster_options or {}
    set_options = [key for key, value in options.items() if value is not None]
    if set_options and cluster is None:
        names = ", ".join(sorted(set_options))
        msg = f"batch job options ({names}) need a batch cluster"
        raise ExecutorConfigError(msg)


def connect_scheduler(address: str, timeout: float = DEFAULT_CONNECT_TIMEOUT):
    """Connect a ``distributed.Client`` to the scheduler at ``address``.

    Raises :class:`SchedulerUnreachableError` naming the address if the
    connection fails or takes longer than ``timeout`` seconds.
    """
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        msg = (
            f"cannot connect to the dask scheduler at {address} within "
            f"{timeout:g} s ({error}). Check that the scheduler is running and "
            f"that the address and port are correct."
        )
        raise SchedulerUnreachableError(msg) from error
    except ValueError as error:
        msg = f"invalid scheduler address {address!r}: {error}"
        raise ExecutorConfigError(msg) from error


def check_worker_imports(client, packages=PROJECT_PACKAGES) -> None:
    """Import ``packages`` on every connected worker of ``client``.

    Workers that join later are not checked. Raises
    :class:`WorkerImportError` naming each worker and the error it reported.
    """
    from pkgutil import resolve_name

    failures = []
    for package in packages:
        # Resolving the module's __name__ imports it and sends back a string.
        results = client.run(resolve_name, f"{package}:__name__", on_error="return")
        for worker, result in sorted(results.items()):
            if isinstance(result, BaseException):
                failures.append(f"{worker} cannot import {package} ({result!r})")
    if failures:
        msg = (
            "dask workers cannot import this project: "
            + "; ".join(failures)
            + ". Install the project in the workers' environment (pip install -e "
            f"{PROJECT_ROOT}) or put {PROJECT_ROOT} on their PYTHONPATH."
        )
        raise WorkerImportError(msg)


def _start_local_cluster(stack: ExitStack, workers: int, dashboard: bool):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=LOCAL_DASHBOARD_ADDRESS if dashboard else None,
    )
    stack.callback(cluster.close)
    client = Client(cluster, set_as_default=False)
    stack.callback(client.close)
    return cluster, client


def _start_jobqueue(stack: ExitStack, kind: str, options: dict, dashboard: bool):
    from distributed import Client

    jobs = options.pop("jobs", None)
    if jobs is None:
        jobs = 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        msg = f"invalid number of jobs {jobs!r}: expected an integer >= 0"
        raise ExecutorConfigError(msg)
    cluster_class = _jobqueue_class(kind)
    submit = cluster_class.job_cls.submit_command.split()[0]
    if jobs > 0 and shutil.which(submit) is None:
        msg = (
            f"cannot submit {kind} jobs: {submit} is not on PATH. Run on a "
            f"machine that submits to the {kind} batch system, or print the job "
            f"script without submitting."
        )
        raise ExecutorConfigError(msg)

    # The config file stays in force while the cluster lives, because
    # dask-jobqueue reads its settings again for every job it submits.
    stack.enter_context(jobqueue_config(options.pop("config", None), kind))
    arguments = jobqueue_arguments(kind, options)
    arguments["scheduler_options"] = {
        **_configured_scheduler_options(kind),
        "dashboard_address": LOCAL_DASHBOARD_ADDRESS if dashboard else None,
    }
    cluster = _build_jobqueue_cluster(cluster_class, arguments)
    stack.callback(cluster.close)
    client = Client(cluster, set_as_default=False)
    stack.callback(client.close)
    # NOTE: scale() returns at once. A failed submission is only logged, as a
    # tornado ERROR with the submit command's stderr, and the run then waits
    # for workers that never come.
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster, client


def job_script(cluster_kind: str, **options) -> str:
    """Return the batch script that one job of ``cluster_kind`` would run.

    ``options`` are those of :func:`jobqueue_arguments`, plus ``config`` and
    ``jobs``, which is ignored. Nothing is submitted. The cluster object is
    built with its scheduler on 127.0.0.1 and no dashboard, then closed, so
    the script names that throwaway scheduler's address where a real run puts
    its own.
    """
    if cluster_kind not in JOBQUEUE_CLUSTERS:
        msg = (
            f"unknown batch cluster {cluster_kind!r}: choose one of "
            f"{', '.join(JOBQUEUE_CLUSTERS)}"
        )
        raise ExecutorConfigError(msg)
    options = dict(options)
    options.pop("jobs", None)
    cluster_class = _jobqueue_class(cluster_kind)
    with jobqueue_config(options.pop("config", None), cluster_kind):
        arguments = jobqueue_arguments(cluster_kind, options)
        scheduler_options = _configured_scheduler_options(cluster_kind)
        scheduler_options.pop("interface", None)
        scheduler_options.pop("port", None)
        arguments["scheduler_options"] = {
            **scheduler_options,
            "host": "127.0.0.1",
            "dashboard_address": None,
        }
        cluster = _build_jobqueue_cluster(cluster_class, arguments)
        try:
            return cluster.job_script()
        finally:
            cluster.close()


def jobqueue_arguments(kind: str, options: Mapping[str, Any]) -> dict:
    """Translate batch job options into arguments of the dask-jobqueue class.

    ``cores`` (per job), ``memory`` (per job, as ``"8GB"``), ``processes``
    (dask workers per job, default one per core), ``walltime``
    (``"HH:MM:SS"``), ``queue``, ``account``, ``disk`` (HTCondor only) and
    ``interface`` (network interface of the scheduler and workers, as
    ``"ib0"``). A missing option keeps the value of the dask config, where
    ``jobqueue.<kind>.cores`` and the like live.

    Systems differ: LSF takes the walltime as ``HH:MM``, rounded up to the
    minute, and the account as its project (``#BSUB -P``). HTCondor has no
    queues, so a queue is rejected. It takes the walltime as the submit
    command ``allowed_execute_duration`` in seconds, which puts a job that
    runs longer on hold, and the account as ``accounting_group``.
    """
    unknown = sorted(set(options) - set(CLUSTER_OPTIONS))
    if unknown:
        msg = (
            f"unknown batch job option {', '.join(unknown)}: known options are "
            f"{', '.join(CLUSTER_OPTIONS)}"
        )
        raise ExecutorConfigError(msg)
    options = {key: value for key, value in options.items() if value is not None}
    _check_required_options(kind, options)

    arguments = _worker_arguments(kind, options)
    if "disk" in options:
        if kind != "htcondor":
            msg = f"the disk option applies to htcondor jobs, not {kind}"
            raise ExecutorConfigError(msg)
        arguments["disk"] = _memory(options["disk"], name="disk")
    if kind == "htcondor":
        arguments.update(_htcondor_arguments(options))
    else:
        arguments.update(_batch_arguments(kind, options))
    arguments["job_script_prologue"] = _project_prologue(kind)
    return arguments


def _check_required_options(kind: str, options: Mapping[str, Any]) -> None:
    import dask.config

    required = ["cores", "memory"]
    if kind == "htcondor":
        required.append("disk")
    missing = [
        name
        for name in required
        if name not in options
        and dask.config.get(f"jobqueue.{kind}.{name}", None) is None
    ]
    if missing:
        msg = (
            f"{kind} jobs need {', '.join(missing)}: give them as options or set "
            f"jobqueue.{kind}.{missing[0]} and the like in a dask config file"
        )
        raise ExecutorConfigError(msg)


def _worker_arguments(kind: str, options: Mapping[str, Any]) -> dict:
    """Return the cores, memory, processes and interface of each job."""
    import dask.config

    arguments = {}
    cores = options.get("cores")
    if cores is not None:
        arguments["cores"] = _positive_int("cores", cores)
    if "memory" in options:
        arguments["memory"] = _memory(options["memory"])
    if "interface" in options:
        arguments["interface"] = str(options["interface"])

    # One single-threaded worker process per core, like coffea's own default
    # dask client, because much of a chunk's work is Python code under the GIL.
    processes = options.get("processes")
    if processes is None:
        processes = dask.config.get(f"jobqueue.{kind}.processes", None)
    if cores is None:
        cores = dask.config.get(f"jobqueue.{kind}.cores", None)
    if processes is None:
        processes = cores
    if processes is not None:
        arguments["processes"] = _positive_int("processes", processes)
        if isinstance(cores, int) and arguments["processes"] > cores:
            msg = f"invalid processes {processes}: a job has only {cores} cores"
            raise ExecutorConfigError(msg)
    return arguments


def _batch_arguments(kind: str, options: Mapping[str, Any]) -> dict:
    """Return the queue, account and walltime of a SLURM, PBS or LSF job."""
    arguments = {}
    if "queue" in options:
        arguments["queue"] = str(options["queue"])
    if "account" in options:
        # LSF calls the account a project (#BSUB -P).
        key = "project" if kind == "lsf" else "account"
        arguments[key] = str(options["account"])
    if "walltime" in options:
        seconds = walltime_seconds(options["walltime"])
        arguments["walltime"] = _format_walltime(seconds, kind)
    return arguments


def _htcondor_arguments(options: Mapping[str, Any]) -> dict:
    import dask.config

    if "queue" in options:
        msg = (
            f"HTCondor has no queues, so queue {options['queue']!r} cannot be "
            f"set. Put site-specific submit commands under "
            f"jobqueue.htcondor.job-extra-directives in a dask config file."
        )
        raise ExecutorConfigError(msg)
    directives = {}
    if "walltime" in options:
        seconds = walltime_seconds(options["walltime"])
        directives["allowed_execute_duration"] = seconds
    if "account" in options:
        directives["accounting_group"] = str(options["account"])
    if not directives:
        return {}
    configured = dask.config.get("jobqueue.htcondor.job-extra-directives", None)
    return {"job_extra_directives": {**(configured or {}), **directives}}


def walltime_seconds(text: str) -> int:
    """Parse a walltime ``"HH:MM:SS"`` (hours may exceed 24) into seconds."""
    match = _WALLTIME.fullmatch(str(text).strip())
    if match is None:
        msg = f"invalid walltime {text!r}: expected HH:MM:SS, for example 01:30:00"
        raise ExecutorConfigError(msg)
    hours, minutes, seconds = (int(part) for part in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total == 0:
        msg = f"invalid walltime {text!r}: it must be longer than zero"
        raise ExecutorConfigError(msg)
    return total


def _format_walltime(seconds: int, kind: str) -> str:
    if kind == "lsf":
        minutes = math.ceil(seconds / 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"invalid {name} {value!r}: expected a positive integer"
        raise ExecutorConfigError(msg)
    return value


def _memory(value, name: str = "memory") -> str:
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(value)
    except (TypeError, ValueError):
        size = 0
    if size <= 0:
        msg = f"invalid {name} {value!r}: expected a size such as 4GB or 500MB"
        raise ExecutorConfigError(msg)
    return str(value)


def _project_prologue(kind: str) -> list[str]:
    """Return the job script lines that run before the dask worker starts.

    The lines of the dask config come first. A source checkout of this project
    adds its folder to ``PYTHONPATH``, which assumes that the batch nodes see
    the same file system, as dask-jobqueue does for the Python interpreter.
    """
    import dask.config

    lines = list(dask.config.get(f"jobqueue.{kind}.job-script-prologue", None) or [])
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        root = shlex.quote(str(PROJECT_ROOT))
        lines.append(f"export PYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}}")
    return lines


@contextmanager
def jobqueue_config(path: str | Path | None, kind: str) -> Iterator[None]:
    """Put the settings of the dask config file ``path`` in force.

    The file has dask's own YAML layout, such as ``jobqueue: {slurm: {cores:
    8}}``. Its values take precedence over the dask config already loaded and
    fill the batch job options not given directly. ``path=None`` changes
    nothing.
    """
    import dask.config

    if path is None:
        yield
        return
    path = Path(path)
    if not path.is_file():
        msg = f"dask config file not found: {path}"
        raise ExecutorConfigError(msg)
    try:
        loaded = dask.config.collect(paths=[str(path)], env={})
    except ValueError as error:
        msg = f"cannot read dask config file {path}: {error}"
        raise ExecutorConfigError(msg) from None
    sections = loaded.get("jobqueue") or {}
    if sections and kind not in sections:
        msg = (
            f"dask config file {path} has jobqueue settings for "
            f"{', '.join(sorted(sections))} but not for {kind}"
        )
        raise ExecutorConfigError(msg)

    overrides = {}
    for key, value in loaded.items():
        current = dask.config.get(key, None)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged = dask.config.update(dask.config.merge(current), value)
            overrides[key] = merged
        else:
            overrides[key] = value
    with dask.config.set(overrides):
        yield


def _configured_scheduler_options(kind: str) -> dict:
    import dask.config

    return dict(dask.config.get(f"jobqueue.{kind}.scheduler-options", None) or {})


def _jobqueue_class(kind: str):
    import dask_jobqueue

    return getattr(dask_jobqueue, JOBQUEUE_CLUSTERS[kind])


def _build_jobqueue_cluster(cluster_class, arguments: dict):
    try:
        return cluster_class(**arguments)
    except ValueError as error:
        msg = f"invalid {cluster_class.__name__} settings: {error}"
        raise ExecutorConfigError(msg) from error


__all__ = [
    "CLUSTER_OPTIONS",
    "JOBQUEUE_CLUSTERS",
    "KINDS",
    "ExecutorConfigError",
    "ExecutorError",
    "ExecutorSetup",
    "SchedulerUnreachableError",
    "WorkerImportError",
    "check_worker_imports",
    "connect_scheduler",
    "job_script",
    "jobqueue_arguments",
    "make_executor",
    "walltime_seconds",
]
