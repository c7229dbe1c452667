"""Generate dimuon events with Pythia 8 and write them as gzipped LHE files.

Two processes are available, both through ``WeakSingleBoson:ffbar2gmZ``
(f fbar -> gamma*/Z0, Pythia process code 221) with the gamma*/Z0 forced to
decay to mu+ mu-:

* ``generate_ee_mumu``: e+ e- -> gamma*/Z0 -> mu+ mu- at a fixed collision
  energy, with initial- and final-state QED radiation off by default.
* ``generate_pp_dy``: Drell-Yan p p -> gamma*/Z0 -> mu+ mu- in a window of
  the partonic invariant mass, at parton level by default.

Each file holds one ``<event>`` block per event with five entries: the two
incoming leptons or partons (status -1), the gamma*/Z0 (status 2, PDG id 23)
and the two final-state muons (status 1, PDG ids 13 and -13). Momenta, energies
and masses are in GeV and are written with ``repr(float)``, which reads back to
the same double. Pythia gives the muons their mass of 0.10566 GeV and treats
the incoming electrons and partons of the hard process as massless.

The files are byte-identical for the same configuration and seed, because the
gzip header carries neither a file name nor a timestamp. ``cached_sample``
stores them under a name derived from the configuration.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import io
import json
import math
import operator
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import escape, quoteattr

import pythia8mc as pythia8

from samples.cache import cache_dir
from samples.errors import InputError

FORMAT_VERSION = 1
"""Version of the LHE layout written here, part of the ``cached_sample`` key."""

MAX_SEED = 900_000_000
"""Largest seed that Pythia's ``Random:seed`` accepts."""

PB_PER_MB = 1.0e9
"""Conversion from Pythia's cross sections (mb) to LHE ones (pb)."""

MIN_BOSON_MASS = 10.0
"""Lowest gamma*/Z0 mass (GeV) that Pythia 8.317 generates, its default ``23:mMin``."""

_QUIET_SETTINGS = (
    "Print:quiet = on",
    # Pythia prints the first occurrence of each error to standard output.
    # The library never prints, so failed events are counted instead.
    "Print:errors = off",
    "Next:numberCount = 0",
)

_DIMUON_SETTINGS = (
    "WeakSingleBoson:ffbar2gmZ = on",
    "23:onMode = off",
    "23:onIfAny = 13",
    "HadronLevel:all = off",
)

# Les Houches status codes (ISTUP) for incoming, intermediate resonance and
# final-state entries, and the SPINUP value for an unknown helicity.
_LHE_INCOMING = -1
_LHE_RESONANCE = 2
_LHE_FINAL = 1
_LHE_UNKNOWN_SPIN = 9.0

# IDWTUP = 3: unweighted events, each with weight +1.
_LHE_WEIGHTING_STRATEGY = 3


def generate_ee_mumu(
    path: str | os.PathLike[str],
    n_events: int = 10_000,
    sqrt_s: float = 80.0,
    isr: bool = False,
    fsr: bool = False,
    seed: int = 1,
) -> Path:
    """Generate e+ e- -> gamma*/Z0 -> mu+ mu- events and write a gzipped LHE file.

    With ``isr`` and ``fsr`` off, the electrons carry the full beam energy
    (``PDF:lepton = off``) and no photon is radiated, so the two muons are back
    to back. In 10,000 events at 80 GeV (Pythia 8.317) their summed
    three-momentum was exactly zero and their summed energy differed from
    ``sqrt_s`` by at most 1.4e-14 GeV (2e-16 relative). Each muon has the mass
    0.10566 GeV, so its energy is ``sqrt_s / 2`` and its momentum
    ``sqrt((sqrt_s / 2)**2 - 0.10566**2)``.

    Parameters
    ----------
    path
        Output file. It is written to a temporary file in the same folder and
        renamed at the end, so an interrupted run leaves no partial file.
    n_events
        Number of events to write.
    sqrt_s
        Centre-of-mass energy in GeV, at least 10 GeV (``MIN_BOSON_MASS``).
        Each beam has ``sqrt_s / 2``.
    isr
        Switch on initial-state QED radiation: the electron PDF
        (``PDF:lepton``) and the initial-state shower.
    fsr
        Switch on final-state QED radiation off the muons.
    seed
        Seed of Pythia's random numbers, between 1 and 900,000,000.

    Returns
    -------
    Path
        The path of the written file.

    Raises
    ------
    TypeError
        If ``n_events`` or ``seed`` is not an integer, or a switch is not a
        bool.
    InputError
        A ``ValueError``, if an argument is out of range.
    RuntimeError
        If Pythia fails to initialize or fails on more events than its
        ``Main:timesAllowErrors`` (10).

    Notes
    -----
    With ``isr`` or ``fsr`` on, the muons are read from Pythia's full event
    record, as in ``generate_pp_dy`` with ``showers=True``.
    """
    config = _ee_mumu_config(n_events, sqrt_s, isr, fsr, seed)
    settings = [
        "Beams:idA = 11",
        "Beams:idB = -11",
        f"Beams:eCM = {config['sqrt_s']!r}",
        f"PDF:lepton = {_on_off(config['isr'])}",
        *_DIMUON_SETTINGS,
        *_radiation_settings(config["isr"], config["fsr"]),
    ]
    radiation = config["isr"] or config["fsr"]
    return _generate(Path(path), "ee-mumu", config, settings, radiation)


def generate_pp_dy(
    path: str | os.PathLike[str],
    n_events: int = 10_000,
    sqrt_s: float = 13000.0,
    mass_window: tuple[float, float] = (60.0, 120.0),
    showers: bool = False,
    seed: int = 1,
) -> Path:
    """Generate p p -> gamma*/Z0 -> mu+ mu- events and write a gzipped LHE file.

    The invariant mass of the hard process is generated inside
    ``mass_window`` (``PhaseSpace:mHatMin`` and ``PhaseSpace:mHatMax``).
    Without showers, generation stops after the hard process
    (``PartonLevel:all = off``), so the dimuon mass equals that mass. The
    incoming partons are then collinear with the beams, and the dimuon pair
    has zero transverse momentum.

    With ``showers=True`` the initial- and final-state parton showers run,
    while multiparton interactions and hadronization stay off. The LHE record
    then mixes two of Pythia's records. The incoming partons and the gamma*/Z0
    come from the hard-process record. The muons come from the full event
    record, as the final copies of the two gamma*/Z0 decay muons after
    initial-state recoil and photon emission. The radiated partons and photons
    are not written, so momentum is not conserved within an LHE event, and
    photon emission can take the dimuon mass below ``mass_window``.

    Parameters
    ----------
    path
        Output file. It is written to a temporary file in the same folder and
        renamed at the end, so an interrupted run leaves no partial file.
    n_events
        Number of events to write.
    sqrt_s
        Centre-of-mass energy of the proton beams in GeV.
    mass_window
        Lower and upper limit of the gamma*/Z0 mass in GeV. The lower limit
        must be at least 10 GeV (``MIN_BOSON_MASS``).
    showers
        Switch on the initial- and final-state parton showers.
    seed
        Seed of Pythia's random numbers, between 1 and 900,000,000.

    Returns
    -------
    Path
        The path of the written file.

    Raises
    ------
    TypeError
        If ``n_events`` or ``seed`` is not an integer, or a switch is not a
        bool.
    InputError
        A ``ValueError``, if an argument is out of range.
    RuntimeError
        If Pythia fails to initialize or fails on more events than its
        ``Main:timesAllowErrors`` (10).
    """
    config = _pp_dy_config(n_events, sqrt_s, mass_window, showers, seed)
    low, high = config["mass_window"]
    settings = [
        "Beams:idA = 2212",
        "Beams:idB = 2212",
        f"Beams:eCM = {config['sqrt_s']!r}",
        f"PhaseSpace:mHatMin = {low!r}",
        f"PhaseSpace:mHatMax = {high!r}",
        *_DIMUON_SETTINGS,
        *_radiation_settings(config["showers"], config["showers"]),
    ]
    return _generate(Path(path), "pp-dy", config, settings, config["showers"])


PROCESSES: dict[str, Callable[..., Path]] = {
    "ee-mumu": generate_ee_mumu,
    "pp-dy": generate_pp_dy,
}
"""Event generators by the process name that ``cached_sample`` accepts."""


def cached_sample(kind: str, **config: Any) -> Path:
    """Return the cached LHE file of a process, generating it if it is missing.

    The file lives in ``cache_dir("generated")`` under a name made of ``kind``
    and a hash of the full configuration: the arguments of the generator with
    their defaults filled in, the process, the LHE format version and the
    pythia8mc version. Generation writes a temporary file and renames it at
    the end, so an interrupted run leaves no file under the final name.

    Parameters
    ----------
    kind
        A key of ``PROCESSES``: ``"ee-mumu"`` or ``"pp-dy"``.
    **config
        Keyword arguments of the generator, except ``path``.

    Returns
    -------
    Path
        The path of the gzipped LHE file.

    Raises
    ------
    InputError
        A ``ValueError``, if ``kind`` is unknown, a keyword is not an argument
        of the generator, or a value is out of range.
    """
    if kind not in PROCESSES:
        msg = f"unknown process {kind!r}: use one of {sorted(PROCESSES)}"
        raise InputError(msg)
    generate = PROCESSES[kind]

    parameters = dict(inspect.signature(generate).parameters)
    del parameters["path"]
    unknown = sorted(set(config) - set(parameters))
    if unknown:
        msg = (
            f"invalid argument(s) {unknown} for process {kind!r}: "
            f"use some of {sorted(parameters)}"
        )
        raise InputError(msg)
    arguments = {name: p.default for name, p in parameters.items()}
    arguments.update(config)
    canonical = _CONFIG_CHECKS[kind](**arguments)

    key = {
        "format_version": FORMAT_VERSION,
        "generator": f"pythia8mc {_pythia8mc_version()}",
        "process": kind,
        **canonical,
    }
    digest = hashlib.sha256(_to_json(key).encode()).hexdigest()[:16]
    path = cache_dir("generated") / f"{kind}-{digest}.lhe.gz"
    if not path.exists():
        generate(path, **canonical)
    return path


def _ee_mumu_config(
    n_events: int, sqrt_s: float, isr: bool, fsr: bool, seed: int
) -> dict[str, Any]:
    """Validate the e+ e- arguments and return them with canonical types."""
    config = {
        "n_events": _check_n_events(n_events),
        "sqrt_s": _check_energy("sqrt_s", sqrt_s),
        "isr": _check_flag("isr", isr),
        "fsr": _check_flag("fsr", fsr),
        "seed": _check_seed(seed),
    }
    if config["sqrt_s"] < MIN_BOSON_MASS:
        msg = (
            f"sqrt_s = {sqrt_s!r} GeV is below the lowest gamma*/Z0 mass that "
            f"Pythia generates, {MIN_BOSON_MASS!r} GeV: use a larger energy"
        )
        raise InputError(msg)
    return config


def _pp_dy_config(
    n_events: int,
    sqrt_s: float,
    mass_window: Sequence[float],
    showers: bool,
    seed: int,
) -> dict[str, Any]:
    """Validate the p p arguments and return them with canonical types."""
    config: dict[str, Any] = {
        "n_events": _check_n_events(n_events),
        "sqrt_s": _check_energy("sqrt_s", sqrt_s),
        "showers": _check_flag("showers", showers),
        "seed": _check_seed(seed),
    }
    try:
        low, high = (float(m) for m in mass_window)
    except (TypeError, ValueError):
        msg = f"invalid mass_window {mass_window!r}: use two numbers (low, high) in GeV"
        raise InputError(msg) from None
    if not (MIN_BOSON_MASS <= low < high <= config["sqrt_s"]):
        msg = (
            f"invalid mass_window {mass_window!r}: the limits must satisfy "
            f"{MIN_BOSON_MASS!r} <= low < high <= sqrt_s = {config['sqrt_s']!r} GeV, "
            "where the lowest value is Pythia's gamma*/Z0 mass limit"
        )
        raise InputError(msg)
    config["mass_window"] = (low, high)
    return config


_CONFIG_CHECKS: dict[str, Callable[..., dict[str, Any]]] = {
    "ee-mumu": _ee_mumu_config,
    "pp-dy": _pp_dy_config,
}


def _check_n_events(n_events: int) -> int:
    if isinstance(n_events, bool):
        msg = f"invalid n_events {n_events!r}: use a positive integer"
        raise TypeError(msg)
    try:
        count = operator.index(n_events)
    except TypeError:
        msg = f"invalid n_events {n_events!r}: use a positive integer"
        raise TypeError(msg) from None
    if count < 1:
        msg = f"invalid n_events {n_events!r}: use a positive integer"
        raise InputError(msg)
    return count


def _check_energy(name: str, value: float) -> float:
    try:
        energy = float(value)
    except (TypeError, ValueError):
        msg = f"invalid {name} {value!r}: use a positive energy in GeV"
        raise InputError(msg) from None
    if not (math.isfinite(energy) and energy > 0.0):
        msg = f"invalid {name} {value!r}: use a positive energy in GeV"
        raise InputError(msg)
    return energy


def _check_flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        msg = f"invalid {name} {value!r}: use True or False"
        raise TypeError(msg)
    return value


def _check_seed(seed: int) -> int:
    # Pythia reads Random:seed = 0 as "seed from the clock" and a negative
    # seed as its default seed, so both are rejected.
    if isinstance(seed, bool):
        msg = f"invalid seed {seed!r}: use an integer from 1 to {MAX_SEED}"
        raise TypeError(msg)
    try:
        value = operator.index(seed)
    except TypeError:
        msg = f"invalid seed {seed!r}: use an integer from 1 to {MAX_SEED}"
        raise TypeError(msg) from None
    if not 1 <= value <= MAX_SEED:
        msg = f"invalid seed {seed!r}: use an integer from 1 to {MAX_SEED}"
        raise InputError(msg)
    return value


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def _radiation_settings(isr: bool, fsr: bool) -> list[str]:
    """Return the parton-level settings for the given radiation switches."""
    if not (isr or fsr):
        return ["PartonLevel:all = off"]
    return [
        f"PartonLevel:ISR = {_on_off(isr)}",
        f"PartonLevel:FSR = {_on_off(fsr)}",
        "PartonLevel:MPI = off",
    ]


def _pythia8mc_version() -> str:
    return metadata.version("pythia8mc")


def _to_json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _generate(
    path: Path,
    kind: str,
    config: dict[str, Any],
    process_settings: list[str],
    radiation: bool,
) -> Path:
    """Run Pythia with the given settings and write the events to ``path``."""
    if not path.parent.is_dir():
        msg = f"output folder {str(path.parent)!r} not found: create it first"
        raise FileNotFoundError(msg)

    settings = [
        *_QUIET_SETTINGS,
        "Random:setSeed = on",
        f"Random:seed = {config['seed']}",
        *process_settings,
    ]
    pythia = _initialize_pythia(settings)
    max_failures = pythia.mode("Main:timesAllowErrors")

    with tempfile.TemporaryFile(
        mode="w+", encoding="ascii", newline="\n", dir=path.parent
    ) as body:
        n_written = 0
        n_failed = 0
        while n_written < config["n_events"]:
            if not pythia.next():
                n_failed += 1
                if n_failed > max_failures:
                    msg = (
                        f"Pythia failed on {n_failed} events of {kind!r} "
                        f"after {n_written} good ones, more than "
                        f"Main:timesAllowErrors = {max_failures}. Check the "
                        f"settings {settings}"
                    )
                    raise RuntimeError(msg)
                continue
            body.write(_format_event(pythia, radiation))
            n_written += 1

        generator = _format_generator(pythia)
        head = (
            '<LesHouchesEvents version="3.0">\n'
            + _format_header(kind, config, settings, generator)
            + _format_init(pythia.infoPython(), generator)
        )
        body.seek(0)
        _write_gzip_atomically(path, head, body, "</LesHouchesEvents>\n")
    return path


def _initialize_pythia(settings: list[str]) -> pythia8.Pythia:
    pythia = pythia8.Pythia("", False)
    for line in settings:
        if not pythia.readString(line, False):
            msg = (
                f"Pythia rejected the setting {line!r}: check its name and value "
                "in the Pythia 8 settings documentation"
            )
            raise RuntimeError(msg)
    if not pythia.init():
        msg = (
            f"Pythia failed to initialize with settings {settings}: check that "
            "the beam energy and the mass window allow the process"
        )
        raise RuntimeError(msg)
    return pythia


def _format_event(pythia: pythia8.Pythia, radiation: bool) -> str:
    """Format the current Pythia event as one LHE ``<event>`` block."""
    process = pythia.process
    incoming = [i for i in range(process.size()) if process[i].status() == -21]
    bosons = [
        i
        for i in range(process.size())
        if process[i].id() == 23 and process[i].status() == -22
    ]
    if radiation:
        muons = _final_muons(pythia.event)
        muon_record = pythia.event
    else:
        muons = [
            i
            for i in range(process.size())
            if process[i].idAbs() == 13 and process[i].status() == 23
        ]
        muon_record = process
    if len(incoming) != 2 or len(bosons) != 1 or len(muons) != 2:
        msg = (
            f"unexpected Pythia record: {len(incoming)} incoming partons, "
            f"{len(bosons)} gamma*/Z0 and {len(muons)} muons, expected 2, 1 and 2"
        )
        raise RuntimeError(msg)

    info = pythia.infoPython()
    lines = [
        "<event>",
        (
            f"5 {info.code()} {info.weight()!r} {info.QFac()!r} "
            f"{info.alphaEM()!r} {info.alphaS()!r}"
        ),
    ]
    for i in incoming:
        lines.append(_format_particle(process[i], _LHE_INCOMING, 0, 0))
    lines.append(_format_particle(process[bosons[0]], _LHE_RESONANCE, 1, 2))
    for i in muons:
        lines.append(_format_particle(muon_record[i], _LHE_FINAL, 3, 3))
    lines.append("</event>\n")
    return "\n".join(lines)


def _final_muons(event: pythia8.Event) -> list[int]:
    """Return the final-state copies of the two muons from the gamma*/Z0 decay.

    The first gamma*/Z0 entry is followed through its recoil copies to the one
    that decays. Each muon daughter is then followed to its last copy, through
    recoils and photon emissions, by ``Particle.iBotCopyId``.
    """
    first = next((i for i in range(event.size()) if event[i].id() == 23), None)
    if first is None:
        return []
    decaying = event[first].iBotCopyId()
    daughters = [d for d in event[decaying].daughterList() if event[d].idAbs() == 13]
    finals = [event[d].iBotCopyId() for d in daughters]
    return [i for i in finals if event[i].isFinal()]


def _format_particle(
    particle: pythia8.Particle, status: int, mother1: int, mother2: int
) -> str:
    momentum = (particle.px(), particle.py(), particle.pz(), particle.e())
    values = " ".join(repr(x) for x in (*momentum, particle.m()))
    return (
        f"{particle.id():>5d} {status:>2d} {mother1:d} {mother2:d} "
        f"{particle.col():d} {particle.acol():d} {values} 0.0 {_LHE_UNKNOWN_SPIN!r}"
    )


def _format_generator(pythia: pythia8.Pythia) -> str:
    """Format the LHE version 3 ``<generator>`` element naming Pythia."""
    version = f"{pythia.parm('Pythia:versionNumber'):.3f}"
    description = f"Pythia {version} through pythia8mc {_pythia8mc_version()}"
    return (
        f"<generator name={quoteattr('Pythia')} version={quoteattr(version)}>"
        f"{escape(description)}</generator>"
    )


def _format_header(
    kind: str, config: dict[str, Any], settings: list[str], generator: str
) -> str:
    """Format the ``<header>`` block: generator, configuration and settings."""
    run = {"format_version": FORMAT_VERSION, "process": kind, **config}
    lines = [
        "<header>",
        generator,
        f"<configuration>{escape(_to_json(run))}</configuration>",
        "<pythia_settings>",
        *(escape(line) for line in settings),
        "</pythia_settings>",
        "</header>\n",
    ]
    return "\n".join(lines)


def _format_init(info: pythia8.Info, generator: str) -> str:
    """Format the ``<init>`` block from Pythia's totals after the run.

    The cross section and its statistical error are Pythia's ``sigmaGen`` and
    ``sigmaErr`` over all generated events, converted from mb to pb. The PDF
    group and set (PDFGUP, PDFSUP) are written as 0, because the proton PDF is
    Pythia's internal ``PDF:pSet`` set, which the header records with the
    other settings, and lepton beams use none.
    """
    beams = (
        f"{info.idA()} {info.idB()} {info.eA()!r} {info.eB()!r} 0 0 0 0 "
        f"{_LHE_WEIGHTING_STRATEGY} 1"
    )
    codes = info.codesHard()
    if len(codes) != 1:
        msg = f"expected one hard process, Pythia ran {list(codes)}"
        raise RuntimeError(msg)
    cross_section = info.sigmaGen() * PB_PER_MB
    error = info.sigmaErr() * PB_PER_MB
    # XMAXUP is the largest event weight, which is 1 for unweighted events.
    process = f"{cross_section!r} {error!r} 1.0 {codes[0]}"
    return f"<init>\n{beams}\n{process}\n{generator}\n</init>\n"


def _write_gzip_atomically(path: Path, head: str, body: TextIO, tail: str) -> None:
    """Write ``head``, the rest of ``body`` and ``tail`` to a gzip file.

    The gzip header stores no file name and a modification time of 0, so equal
    text gives equal bytes. The data go to a temporary file in the target
    folder that replaces ``path`` only once it is complete.
    """
    # A random name opened with "x" is unique and, unlike tempfile.mkstemp,
    # gets the permissions of the user's umask. The file is opened outside the
    # try block so that a name clash never deletes another file.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    raw = open(temporary, "xb")  # noqa: SIM115 (closed by the with block below)
    try:
        with (
            raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
            io.TextIOWrapper(zipped, encoding="ascii", newline="\n") as text,
        ):
            text.write(head)
            shutil.copyfileobj(body, text)
            text.write(tail)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
