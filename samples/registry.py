"""Named datasets in coffea's fileset form, with where their events come from.

A sample's metadata (generator or experiment, collision energy, tree name,
description, origin) lives here, not in ``if`` branches of the processor.
Real files are fetched by name with :func:`skhep_testdata.data_path`, which
downloads them on a machine with internet access; set ``SKHEP_TESTDATA_DIR``
to a folder that already holds them to work offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from samples.errors import InputError

TESTDATA_ENV = "SKHEP_TESTDATA_DIR"


@dataclass(frozen=True)
class Sample:
    """A named dataset and the facts a physicist needs about it.

    ``files`` are names known to scikit-hep-testdata; a generated sample has
    none and a ``make_files`` callable that produces (or finds cached) files.
    ``sqrt_s`` is the collision energy in GeV.
    """

    name: str
    description: str
    origin: str
    producer: str
    sqrt_s: float | None
    treename: str
    files: tuple[str, ...] = ()
    make_files: Callable[[], list[Path]] | None = field(default=None, compare=False)
    make_features: Callable[[], tuple] | None = field(default=None, compare=False)
    default_features: str = "p4"
    intrinsic_dimension: int | None = None
    constraints: tuple[str, ...] = ()

    @property
    def is_toy(self) -> bool:
        """Whether the sample yields features directly, skipping the processor."""
        return self.make_features is not None

    def metadata(self) -> dict:
        """Return the fileset metadata: every fact except the file list."""
        return {
            "sample": self.name,
            "description": self.description,
            "origin": self.origin,
            "producer": self.producer,
            "sqrt_s": self.sqrt_s,
        }


SAMPLES: dict[str, Sample] = {}


def register(sample: Sample) -> Sample:
    """Add ``sample`` to the registry; a name can be registered once."""
    if sample.name in SAMPLES:
        msg = f"sample {sample.name!r} is already registered"
        raise ValueError(msg)
    SAMPLES[sample.name] = sample
    return sample


register(
    Sample(
        name="cms-zmumu-2010",
        description="CMS 2010 open data: dimuon events around the Z peak",
        origin="scikit-hep-testdata file uproot-Zmumu.root (CMS open data, 2010)",
        producer="CMS experiment",
        sqrt_s=7000.0,
        treename="events",
        files=("uproot-Zmumu.root",),
    )
)
register(
    Sample(
        name="madgraph-dy-7tev",
        description="MadGraph pp -> l+l- with up to two extra partons (MLM)",
        origin=(
            "scikit-hep-testdata file pylhe-testfile-madgraph-2.2.1-Z-mlm.lhe.gz "
            "(MadGraph5 2.2.1, 3.5 TeV per beam)"
        ),
        producer="MadGraph5 2.2.1",
        sqrt_s=7000.0,
        treename="events",
        files=("pylhe-testfile-madgraph-2.2.1-Z-mlm.lhe.gz",),
    )
)


def _generated(kind: str, **config) -> Callable[[], list[Path]]:
    def make_files() -> list[Path]:
        from samples.pythia import cached_sample

        return [cached_sample(kind, **config)]

    return make_files


GENERATED_EVENTS = 10_000
PP_MASS_WINDOW = (60.0, 120.0)

register(
    Sample(
        name="pythia-ee-80gev",
        description="Pythia 8 e+e- -> gamma*/Z -> mu+mu- at 80 GeV, no radiation",
        origin=f"generated here with pythia8mc, {GENERATED_EVENTS} events, seed 1",
        producer="Pythia 8",
        sqrt_s=80.0,
        treename="events",
        make_files=_generated(
            "ee-mumu", n_events=GENERATED_EVENTS, sqrt_s=80.0, seed=1
        ),
        default_features="p3",
        intrinsic_dimension=2,
        constraints=(
            "p(mu-) + p(mu+) = 0 (three components)",
            "|p(mu-)| = |p(mu+)| = sqrt((sqrt_s/2)^2 - m_mu^2)",
        ),
    )
)
register(
    Sample(
        name="pythia-ee-80gev-radiation",
        description="Pythia 8 e+e- -> gamma*/Z -> mu+mu- at 80 GeV, ISR and FSR on",
        origin=f"generated here with pythia8mc, {GENERATED_EVENTS} events, seed 1",
        producer="Pythia 8",
        sqrt_s=80.0,
        treename="events",
        make_files=_generated(
            "ee-mumu",
            n_events=GENERATED_EVENTS,
            sqrt_s=80.0,
            isr=True,
            fsr=True,
            seed=1,
        ),
        default_features="p3",
    )
)


def _pp_sample(name: str, window: tuple[float, float], **facts) -> Sample:
    """Describe a partonic Pythia pp -> gamma*/Z -> mu+mu- sample at 13 TeV."""
    return Sample(
        name=name,
        description=(
            "Pythia 8 pp -> gamma*/Z -> mu+mu- at 13 TeV, partonic, "
            f"{window[0]:g} < m_mumu < {window[1]:g} GeV"
        ),
        origin=f"generated here with pythia8mc, {GENERATED_EVENTS} events, seed 1",
        producer="Pythia 8",
        sqrt_s=13000.0,
        treename="events",
        make_files=_generated(
            "pp-dy",
            n_events=GENERATED_EVENTS,
            sqrt_s=13000.0,
            mass_window=window,
            seed=1,
        ),
        default_features="p4",
        **facts,
    )


register(
    _pp_sample(
        "pythia-pp-13tev",
        PP_MASS_WINDOW,
        intrinsic_dimension=3,
        constraints=(
            "px(mu-) + px(mu+) = 0, py(mu-) + py(mu+) = 0 (no initial-state pT)",
            "m(mu-)^2 = m(mu+)^2 = m_mu^2 (on shell)",
            "m_mumu close to m_Z (approximate, Breit-Wigner line shape)",
        ),
    )
)
register(_pp_sample("pythia-pp-13tev-narrow", (86.0, 96.0)))
register(_pp_sample("pythia-pp-13tev-wide", (40.0, 200.0)))


def _toy(name: str) -> Callable[[], tuple]:
    def make_features():
        from samples.toys import TOYS

        return TOYS[name].generate(n_events=GENERATED_EVENTS, seed=0)

    return make_features


def _register_toys() -> None:
    from samples.toys import TOYS

    for toy in TOYS.values():
        register(
            Sample(
                name=toy.name,
                description=toy.description,
                origin=f"generated here with numpy, {GENERATED_EVENTS} events, seed 0",
                producer="toy model",
                sqrt_s=None,
                treename="",
                make_features=_toy(toy.name),
                default_features="toy",
                intrinsic_dimension=toy.intrinsic_dimension,
                constraints=toy.constraints,
            )
        )


_register_toys()


def get_sample(name: str) -> Sample:
    """Return the registered sample ``name``.

    Raises
    ------
    InputError
        If no sample has that name; the message lists the known ones.
    """
    try:
        return SAMPLES[name]
    except KeyError:
        known = ", ".join(sorted(SAMPLES))
        msg = f"unknown sample {name!r}; known samples: {known}"
        raise InputError(msg) from None


def testdata_path(filename: str) -> Path:
    """Find a scikit-hep-testdata file, downloading it if it is not cached.

    The cache folder is ``$SKHEP_TESTDATA_DIR`` when set, else the package's
    default (``~/.local/skhepdata``).
    """
    import skhep_testdata

    cache = os.environ.get(TESTDATA_ENV) or None
    if cache:
        local = Path(cache) / filename
        if local.exists():
            return local
    try:
        return Path(skhep_testdata.data_path(filename, cache_dir=cache))
    except Exception as error:
        where = cache or "the scikit-hep-testdata cache"
        msg = (
            f"cannot find or download {filename!r} ({error}); put the file in "
            f"{where} or set {TESTDATA_ENV} to a folder that contains it"
        )
        raise InputError(msg) from error


def sample_files(sample: Sample) -> list[Path]:
    """Return the local paths of a sample's files, fetching or generating them."""
    if sample.make_files is not None:
        return list(sample.make_files())
    return [testdata_path(name) for name in sample.files]


def sample_fileset(sample: Sample) -> dict:
    """Return the coffea fileset ``{name: {"files": ..., "metadata": ...}}``."""
    files = {str(path): sample.treename for path in sample_files(sample)}
    return {sample.name: {"files": files, "metadata": sample.metadata()}}


def count_files(paths) -> dict[str, int]:
    """Count how often each file is named, keyed by its first spelling.

    Paths that resolve to the same file, such as ``a.root`` and
    ``./data/../a.root`` or a symbolic link, count as one file.
    """
    first = {}
    counts = {}
    for path in paths:
        resolved = Path(path).resolve()
        key = first.setdefault(resolved, str(Path(path)))
        counts[key] = counts.get(key, 0) + 1
    return counts


def user_fileset(paths, treename: str, name: str = "user-files") -> dict:
    """Return a fileset of the user's own files, all with tree ``treename``.

    A file named twice, also under another spelling of its path, is listed
    once, under its first spelling (see :func:`count_files`).
    """
    files = dict.fromkeys(count_files(paths), treename)
    metadata = {
        "sample": name,
        "description": "files given on the command line",
        "origin": ", ".join(files),
        "producer": "unknown",
        "sqrt_s": None,
    }
    return {name: {"files": files, "metadata": metadata}}
