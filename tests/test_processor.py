"""The dimuon processor through coffea's Runner on real files, LHE conversion,
the conversion cache and filesets with empty files."""

from __future__ import annotations

import gzip

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea import processor
from coffea.nanoevents import BaseSchema

from processors.dimuon import (
    CUTFLOW_STEPS,
    ChunkArrays,
    DimuonProcessor,
    order_features,
)
from samples.errors import InputError
from samples.files import prepare_fileset
from samples.lhe import converted_path, ensure_converted, is_lhe

ZMUMU = "uproot-Zmumu.root"
MADGRAPH = "pylhe-testfile-madgraph-2.2.1-Z-mlm.lhe.gz"
NANOAOD = "nanoAOD_2015_CMS_Open_Data_ttbar.root"

FLAT_BRANCHES = ("E1", "px1", "py1", "pz1", "Q1", "E2", "px2", "py2", "pz2", "Q2")


def run_processor(fileset, executor=None, chunksize=100_000):
    """Run :class:`DimuonProcessor` (p4 features) over ``fileset``."""
    runner = processor.Runner(
        executor=executor or processor.IterativeExecutor(status=False),
        schema=BaseSchema,
        chunksize=chunksize,
    )
    return runner(fileset, DimuonProcessor("p4"))


def single_fileset(path, treename, dataset="data"):
    return {dataset: {"files": {str(path): treename}}}


def cutflow_counts(output, dataset="data"):
    return [output[dataset]["cutflow"][step] for step in CUTFLOW_STEPS]


def ordered_features(output, files, dataset="data"):
    return order_features(output[dataset]["features"], [str(f) for f in files])


def flat_features(path):
    """Recompute the p4 feature matrix of a flat dimuon tree with numpy alone.

    Keeps the events whose two muons have opposite charges, and puts the
    muon with negative charge first.
    """
    tree = uproot.open(path)["events"]
    arrays = tree.arrays(FLAT_BRANCHES, library="np")
    opposite = arrays["Q1"] * arrays["Q2"] < 0
    first_negative = arrays["Q1"] < 0
    columns = []
    for charge_first in (True, False):
        take_first = first_negative if charge_first else ~first_negative
        for stem in ("px", "py", "pz", "E"):
            column = np.where(take_first, arrays[f"{stem}1"], arrays[f"{stem}2"])
            columns.append(column[opposite])
    return np.column_stack(columns).astype(np.float64)


def write_flat_tree(path, arrays):
    """Write a flat dimuon tree ``events`` with the branches in ``arrays``."""
    types = {name: values.dtype for name, values in arrays.items()}
    with uproot.recreate(path) as output:
        output.mktree("events", types)
        if len(next(iter(arrays.values()))):
            output["events"].extend(arrays)


def read_flat_arrays(path, entry_stop):
    tree = uproot.open(path)["events"]
    return tree.arrays(FLAT_BRANCHES, library="np", entry_stop=entry_stop)


# Real files


def test_zmumu_counts(real_file):
    path = real_file(ZMUMU)

    output = run_processor(single_fileset(path, "events"))

    assert output["data"]["cutflow"]["events read"] == 2304
    assert output["data"]["cutflow"]["opposite-charge pair"] == 2147
    assert output["data"]["cutflow"]["finite features"] == 2147


def test_zmumu_features_numpy(real_file):
    path = real_file(ZMUMU)
    expected = flat_features(path)

    output = run_processor(single_fileset(path, "events"), chunksize=700)
    features = ordered_features(output, [path])

    assert features.shape == (2147, 8)
    np.testing.assert_array_equal(features, expected)


def test_zmumu_histograms_filled(real_file):
    path = real_file(ZMUMU)

    output = run_processor(single_fileset(path, "events"))
    histograms = output["data"]["histograms"]

    for name in ("px_sum", "m_mumu", "m2_mu-", "pt_asymmetry"):
        total = histograms[name].values(flow=True).sum()
        assert total == 2147, name
    assert output["data"]["moments"]["m_mumu"].n == 2147


def test_zmumu_mass_range(real_file):
    path = real_file(ZMUMU)
    features = flat_features(path)
    pair = features[:, :4] + features[:, 4:]
    mass = np.sqrt(pair[:, 3] ** 2 - np.sum(pair[:, :3] ** 2, axis=1))

    output = run_processor(single_fileset(path, "events"))
    moments = output["data"]["moments"]["m_mumu"]

    assert moments.n == 2147
    assert moments.minimum == pytest.approx(mass.min(), rel=1e-12)
    assert moments.maximum == pytest.approx(mass.max(), rel=1e-12)
    assert moments.total == pytest.approx(mass.sum(), rel=1e-12)


def test_madgraph_counts(real_file):
    source = real_file(MADGRAPH)
    path = ensure_converted(source)

    output = run_processor(single_fileset(path, "events"))

    assert output["data"]["cutflow"]["events read"] == 10000
    assert output["data"]["cutflow"]["opposite-charge pair"] == 4994
    assert output["data"]["cutflow"]["finite features"] == 4994


def test_madgraph_mass_range(real_file):
    path = ensure_converted(real_file(MADGRAPH))

    output = run_processor(single_fileset(path, "events"))
    moments = output["data"]["moments"]["m_mumu"]

    assert moments.minimum == pytest.approx(30.0, abs=0.05)
    assert moments.maximum == pytest.approx(529.4, abs=0.05)


def test_nanoaod_cutflow(real_file):
    path = real_file(NANOAOD)
    charges = uproot.open(path)["Events"]["Muon_charge"].array(library="np")
    n_two = sum(1 for event in charges if len(event) >= 2)
    n_opposite = sum(1 for event in charges if np.any(event < 0) and np.any(event > 0))

    output = run_processor(single_fileset(path, "Events"))
    cutflow = output["data"]["cutflow"]

    assert cutflow["events read"] == 200
    assert cutflow["two or more muons"] == 1
    assert cutflow["two or more muons"] == n_two
    assert cutflow["opposite-charge pair"] == n_opposite
    assert cutflow["finite features"] == n_opposite


def test_nanoaod_no_pairs_features(real_file):
    path = real_file(NANOAOD)

    output = run_processor(single_fileset(path, "Events"))
    features = ordered_features(output, [path])

    assert features.shape[0] == 0
    assert output["data"]["histograms"]["m_mumu"].values(flow=True).sum() == 0


def test_nanoaod_layout_float64(tmp_path):
    # float32 branches as in NanoAOD: three events with an opposite-charge
    # pair, three muons (two mu+) and a single muon.
    muons = ak.zip(
        {
            "pt": ak.values_astype(
                [[45.3, 38.1], [20.7, 52.9, 31.4], [25.0]], np.float32
            ),
            "eta": ak.values_astype([[0.4, -1.2], [2.1, -0.3, 0.9], [1.0]], np.float32),
            "phi": ak.values_astype([[1.1, -2.0], [0.2, 3.0, -1.5], [0.0]], np.float32),
            "mass": ak.values_astype(
                [[0.10566, 0.10566], [0.10566] * 3, [0.10566]], np.float32
            ),
            "charge": ak.values_astype([[1, -1], [1, 1, -1], [1]], np.int32),
        }
    )
    path = tmp_path / "nano.root"
    with uproot.recreate(path) as output:
        output.mktree("Events", {"Muon": muons.type})
        output["Events"].extend({"Muon": muons})

    def momentum(event, index):
        pt, eta, phi, mass = (
            np.float64(muons[field][event][index])
            for field in ("pt", "eta", "phi", "mass")
        )
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        return [px, py, pz, np.sqrt(px * px + py * py + pz * pz + mass * mass)]

    # Muons count from 0. Event 0: the mu- is muon 1. Event 1: the mu- is muon
    # 2 and the leading mu+ is muon 1 (pT 52.9).
    expected = np.array(
        [momentum(0, 1) + momentum(0, 0), momentum(1, 2) + momentum(1, 1)]
    )
    muon_mass_squared = np.float64(np.float32(0.10566)) ** 2

    output = run_processor(single_fileset(path, "Events"))
    features = ordered_features(output, [path])
    moments = output["data"]["moments"]

    assert cutflow_counts(output) == [3, 2, 2, 2]
    np.testing.assert_allclose(features, expected, rtol=1e-12, atol=1e-12)
    assert moments["m2_mu-"].minimum == pytest.approx(muon_mass_squared, abs=1e-10)
    assert moments["m2_mu-"].maximum == pytest.approx(muon_mass_squared, abs=1e-10)
    assert moments["m2_mu+"].minimum == pytest.approx(muon_mass_squared, abs=1e-10)
    assert moments["m2_mu+"].maximum == pytest.approx(muon_mass_squared, abs=1e-10)


def real_fileset(real_file):
    """Return the three real files as one fileset, and the path of each dataset."""
    files = {
        "zmumu": real_file(ZMUMU),
        "madgraph": ensure_converted(real_file(MADGRAPH)),
        "nanoaod": real_file(NANOAOD),
    }
    treenames = {"zmumu": "events", "madgraph": "events", "nanoaod": "Events"}
    fileset = {
        dataset: {"files": {str(path): treenames[dataset]}}
        for dataset, path in files.items()
    }
    return fileset, files


@pytest.fixture(scope="module")
def executor_outputs():
    """Return a function that runs the real fileset with both executors.

    The function takes ``real_file`` and returns ``(iterative, futures,
    files)``. The processor runs once per module, in 1500-event chunks.
    """
    done = {}

    def run(real_file):
        if not done:
            fileset, files = real_fileset(real_file)
            done["iterative"] = run_processor(fileset, chunksize=1500)
            done["futures"] = run_processor(
                fileset,
                executor=processor.FuturesExecutor(workers=2, status=False),
                chunksize=1500,
            )
            done["files"] = files
        return done["iterative"], done["futures"], done["files"]

    return run


def test_futures_counts(real_file, executor_outputs):
    iterative, futures, _ = executor_outputs(real_file)

    assert cutflow_counts(futures, "zmumu") == [2304, 2304, 2147, 2147]
    assert cutflow_counts(futures, "madgraph") == [10000, 4994, 4994, 4994]
    assert cutflow_counts(futures, "nanoaod") == [200, 1, 0, 0]
    for dataset in ("zmumu", "madgraph", "nanoaod"):
        assert cutflow_counts(futures, dataset) == cutflow_counts(iterative, dataset)


def test_futures_features_identical(real_file, executor_outputs):
    iterative, futures, files = executor_outputs(real_file)

    for dataset, path in files.items():
        np.testing.assert_array_equal(
            ordered_features(futures, [path], dataset),
            ordered_features(iterative, [path], dataset),
        )


def test_futures_chunk_keys(real_file, executor_outputs):
    _, futures, files = executor_outputs(real_file)

    # coffea splits the 10000 LHE events into ceil(10000 / 1500) = 7 chunks.
    keys = sorted(futures["madgraph"]["features"])
    assert len(keys) == 7
    assert {name for name, _ in keys} == {str(files["madgraph"])}


def test_futures_histograms_identical(real_file, executor_outputs):
    iterative, futures, _ = executor_outputs(real_file)

    for dataset in ("zmumu", "madgraph"):
        for name, h in iterative[dataset]["histograms"].items():
            np.testing.assert_array_equal(
                futures[dataset]["histograms"][name].values(flow=True),
                h.values(flow=True),
            )


# LHE conversion of hand-written files

LHE_HEADER = """<LesHouchesEvents version="3.0">
<header>
</header>
<init>
 2212 2212 3.5000000e+03 3.5000000e+03 0 0 10042 10042 3 1
 1.0000000e+03 1.0000000e+01 1.0000000e+03 1
</init>
"""
LHE_FOOTER = "</LesHouchesEvents>\n"
EVENT_INFO = " {n} 1 +1.0000000e+00 9.1000000e+01 7.5467711e-03 1.3000000e-01\n"


def particle_line(pdg_id, status, px, py, pz, energy, mass):
    mothers = "0 0" if status == -1 else "1 2"
    return f" {pdg_id} {status} {mothers} 0 0 {px} {py} {pz} {energy} {mass} 0.0 9.0\n"


def lhe_event(particles, extra=""):
    lines = "".join(particle_line(*p) for p in particles)
    return (
        "<event>\n" + EVENT_INFO.format(n=len(particles)) + lines + extra + "</event>\n"
    )


def beams(pz_plus, pz_minus):
    """Return two massless incoming quarks with pz = +pz_plus and -pz_minus."""
    return [
        (2, -1, "0.0", "0.0", pz_plus, pz_plus, "0.0"),
        (-2, -1, "0.0", "0.0", f"-{pz_minus}", pz_minus, "0.0"),
    ]


# Particles as (PDG id, status, px, py, pz, E, m), values in GeV. The beams
# of the first two events carry the pz and E of the muon pair exactly.
EVENT_NORMAL = beams("25.0", "15.0") + [
    (13, 1, "12.5", "3.0", "20.0", "23.75", "0.10566"),
    (-13, 1, "-12.5", "-3.0", "-10.0", "16.25", "0.10566"),
]
EVENT_COMMENT = beams("14.125", "4.125") + [
    (-13, 1, "7.25", "-1.5", "4.0", "8.5", "0.10566"),
    (13, 1, "-7.25", "1.5", "6.0", "9.75", "0.10566"),
]
# Two mu- (pT 30 and 40) and one mu+: the pair is the leading mu- with the mu+.
# The beams carry the pz (6) and E (91.5) of all three muons.
EVENT_THREE_MUONS = beams("48.75", "42.75") + [
    (13, 1, "30.0", "0.0", "1.0", "30.5", "0.10566"),
    (-13, 1, "-20.0", "0.0", "2.0", "20.5", "0.10566"),
    (13, 1, "0.0", "-40.0", "3.0", "40.5", "0.10566"),
]
# Feature rows (px, py, pz, E of the mu-, then of the mu+) of the events above.
EXPECTED_FEATURES = [
    [12.5, 3.0, 20.0, 23.75, -12.5, -3.0, -10.0, 16.25],
    [-7.25, 1.5, 6.0, 9.75, 7.25, -1.5, 4.0, 8.5],
    [0.0, -40.0, 3.0, 40.5, -20.0, 0.0, 2.0, 20.5],
]


def three_event_text():
    return (
        LHE_HEADER
        + lhe_event(EVENT_NORMAL)
        + lhe_event(EVENT_COMMENT, extra="# a generator comment 1 2 3\n")
        + lhe_event(EVENT_THREE_MUONS)
        + LHE_FOOTER
    )


def malformed_text():
    broken = lhe_event(EVENT_COMMENT).replace("-1.5", "abc")
    return LHE_HEADER + lhe_event(EVENT_NORMAL) + broken + LHE_FOOTER


def converted_features(path):
    output = run_processor(single_fileset(path, "events"))
    return output, ordered_features(output, [path])


def test_lhe_comment_line_converts(tmp_path):
    source = tmp_path / "three.lhe"
    source.write_text(three_event_text())

    path = ensure_converted(source)
    tree = uproot.open(path)["events"]

    assert tree.num_entries == 3
    assert ak.num(tree["LHE_id"].array()).tolist() == [4, 4, 5]


def test_lhe_comment_line_selects(tmp_path):
    source = tmp_path / "three.lhe"
    source.write_text(three_event_text())

    output, features = converted_features(ensure_converted(source))

    assert cutflow_counts(output) == [3, 3, 3, 3]
    np.testing.assert_array_equal(features, EXPECTED_FEATURES)


def test_lhe_initial_state_checks(tmp_path):
    source = tmp_path / "three.lhe"
    source.write_text(three_event_text())

    output, _ = converted_features(ensure_converted(source))
    moments = output["data"]["moments"]

    # The pairs of the first two events carry the whole initial state. In the
    # third, the pair has px -20, pz 5 and E 61 against 0, 6 and 91.5.
    assert moments["dpz"].n == 3
    assert moments["dpz"].minimum == -1.0
    assert moments["dpz"].maximum == 0.0
    assert moments["dE"].minimum == -30.5
    assert moments["dE"].maximum == 0.0
    assert moments["dpx"].minimum == -20.0
    assert moments["dpx"].maximum == 0.0


def test_lhe_gzip_named_plain(tmp_path):
    source = tmp_path / "compressed.lhe"
    source.write_bytes(gzip.compress(three_event_text().encode()))

    assert is_lhe(source)
    output, features = converted_features(ensure_converted(source))
    assert cutflow_counts(output) == [3, 3, 3, 3]
    np.testing.assert_array_equal(features, EXPECTED_FEATURES)


def test_lhe_malformed_event(tmp_path):
    source = tmp_path / "malformed.lhe"
    source.write_text(malformed_text())

    with pytest.raises(InputError, match=r"malformed event 2 in .*malformed\.lhe"):
        ensure_converted(source)


def test_lhe_malformed_leaves_no_cache(tmp_path):
    source = tmp_path / "malformed.lhe"
    source.write_text(malformed_text())

    with pytest.raises(InputError):
        ensure_converted(source)

    assert not converted_path(source).exists()


def test_lhe_truncated_raises(tmp_path):
    text = three_event_text()
    cut = text.index("<event>", text.index("</event>")) + 60
    source = tmp_path / "truncated.lhe"
    source.write_text(text[:cut])

    with pytest.raises(InputError, match=r"truncated\.lhe"):
        ensure_converted(source)


def test_lhe_truncated_leaves_no_cache(tmp_path):
    text = three_event_text()
    cut = text.index("<event>", text.index("</event>")) + 60
    source = tmp_path / "truncated.lhe"
    source.write_text(text[:cut])
    target = converted_path(source)

    with pytest.raises(InputError):
        ensure_converted(source)

    assert not target.exists()
    leftovers = [p.name for p in target.parent.iterdir() if target.name in p.name]
    assert leftovers == []


def test_lhe_truncated_gzip(tmp_path):
    data = gzip.compress(three_event_text().encode())
    source = tmp_path / "truncated.lhe.gz"
    source.write_bytes(data[: len(data) // 2])
    target = converted_path(source)

    with pytest.raises(InputError, match=r"truncated\.lhe\.gz"):
        ensure_converted(source)

    assert not target.exists()


def test_lhe_truncated_gzip_recognised(tmp_path):
    # is_lhe inspects the first 4096 decompressed bytes. This truncated file
    # ends before that, but the part that decompresses is still LHE.
    data = gzip.compress(three_event_text().encode())
    source = tmp_path / "short.lhe.gz"
    source.write_bytes(data[: len(data) // 2])

    assert is_lhe(source)


def test_truncated_gzip_fileset_error(tmp_path):
    data = gzip.compress(three_event_text().encode())
    source = tmp_path / "short.lhe.gz"
    source.write_bytes(data[: len(data) // 2])
    fileset = {"data": {"files": {str(source): "events"}}}

    with pytest.raises(
        InputError, match=r"malformed (event \d+|LHE file) .*short\.lhe\.gz"
    ):
        prepare_fileset(fileset)


def test_lhe_cache_not_rewritten(tmp_path):
    source = tmp_path / "cached.lhe"
    source.write_text(three_event_text().replace("23.75", "23.5"))

    first = ensure_converted(source)
    before = first.stat().st_mtime_ns
    second = ensure_converted(source)

    assert second == first
    assert second.stat().st_mtime_ns == before


def test_lhe_changed_source_new_path(tmp_path):
    source = tmp_path / "changing.lhe"
    source.write_text(three_event_text())
    first = ensure_converted(source)

    source.write_text(three_event_text().replace(" 12.5 ", " 12.75 "))
    second = ensure_converted(source)

    assert second != first
    assert first.exists()
    px = uproot.open(second)["events"]["LHE_px"].array()
    assert px[0].tolist() == [0.0, 0.0, 12.75, -12.5]


def test_lhe_conversion_progress(tmp_path):
    source = tmp_path / "blocks.lhe"
    source.write_text(three_event_text().replace("20.5", "20.25"))
    blocks = []

    path = ensure_converted(source, block_events=2, progress=blocks.append)

    assert blocks == [2, 1]
    assert uproot.open(path)["events"].num_entries == 3


# Files with zero events


def flat_files(real_file, tmp_path):
    """Return a real flat file, a zero-entry copy of its layout and a 300-event copy."""
    zmumu = real_file(ZMUMU)
    head = read_flat_arrays(zmumu, 300)
    small = tmp_path / "small.root"
    write_flat_tree(small, head)
    empty = tmp_path / "empty.root"
    write_flat_tree(empty, {name: values[:0] for name, values in head.items()})
    return zmumu, empty, small


def test_prepare_skips_empty(real_file, tmp_path):
    zmumu, empty, small = flat_files(real_file, tmp_path)
    fileset = {
        "data": {
            "files": {str(zmumu): "events", str(empty): "events", str(small): "events"}
        }
    }

    runnable, used, skipped = prepare_fileset(fileset)

    assert [info.source for info in skipped] == [str(empty)]
    assert [info.entries for info in skipped] == [0]
    assert [info.source for info in used] == [str(zmumu), str(small)]
    assert list(runnable["data"]["files"]) == [str(zmumu), str(small)]


def test_empty_file_results_unchanged(real_file, tmp_path):
    zmumu, empty, small = flat_files(real_file, tmp_path)
    with_empty = {
        "data": {
            "files": {
                str(zmumu): "events",
                str(empty): "events",
                str(small): "events",
            }
        }
    }
    good_only = {"data": {"files": {str(zmumu): "events", str(small): "events"}}}

    runnable, used, _ = prepare_fileset(with_empty)
    output = run_processor(runnable)
    reference = run_processor(good_only)
    files = [info.path for info in used]

    assert cutflow_counts(output) == cutflow_counts(reference)
    assert cutflow_counts(output)[0] == 2304 + 300
    np.testing.assert_array_equal(
        ordered_features(output, files), ordered_features(reference, files)
    )
    expected = np.concatenate([flat_features(zmumu), flat_features(small)])
    np.testing.assert_array_equal(ordered_features(output, files), expected)
    for name, h in reference["data"]["histograms"].items():
        np.testing.assert_array_equal(
            output["data"]["histograms"][name].values(flow=True), h.values(flow=True)
        )


def test_prepare_only_empty(real_file, tmp_path):
    _, empty, _ = flat_files(real_file, tmp_path)
    fileset = {"data": {"files": {str(empty): "events"}}}

    runnable, used, skipped = prepare_fileset(fileset)

    assert runnable == {}
    assert used == []
    assert [info.source for info in skipped] == [str(empty)]


def test_empty_lhe_skipped(tmp_path):
    source = tmp_path / "no-events.lhe"
    source.write_text(LHE_HEADER + LHE_FOOTER)
    fileset = {"data": {"files": {str(source): "events"}}}

    runnable, used, skipped = prepare_fileset(fileset)

    assert runnable == {}
    assert used == []
    assert [(info.source, info.format, info.entries) for info in skipped] == [
        (str(source), "lhe", 0)
    ]


# Non-finite features


def test_non_finite_features_dropped(real_file, tmp_path):
    arrays = read_flat_arrays(real_file(ZMUMU), 300)
    opposite = np.flatnonzero(arrays["Q1"] * arrays["Q2"] < 0)
    arrays["px1"][opposite[3]] = np.nan
    arrays["E2"][opposite[10]] = np.inf
    path = tmp_path / "non-finite.root"
    write_flat_tree(path, arrays)
    keep = np.ones(len(opposite), dtype=bool)
    keep[[3, 10]] = False
    expected = flat_features(path)[keep]

    output = run_processor(single_fileset(path, "events"))
    features = ordered_features(output, [path])

    assert cutflow_counts(output) == [300, 300, len(opposite), len(opposite) - 2]
    np.testing.assert_array_equal(features, expected)
    assert (
        output["data"]["histograms"]["m_mumu"].values(flow=True).sum()
        == len(opposite) - 2
    )


def test_chunk_arrays_merge_without_copies():
    first = np.arange(6.0).reshape(3, 2)
    second = np.arange(4.0).reshape(2, 2)
    outputs = [
        {"features": ChunkArrays({("a.root", 0): first}), "n": 3},
        {"features": ChunkArrays({("a.root", 3): second}), "n": 2},
        {"features": ChunkArrays(), "n": 0},
    ]

    merged = processor.accumulate(outputs)

    assert merged["n"] == 5
    assert sorted(merged["features"]) == [("a.root", 0), ("a.root", 3)]
    # The merged mapping contains the chunks' own arrays, not copies.
    assert merged["features"][("a.root", 0)] is first
    assert merged["features"][("a.root", 3)] is second
    # The first output is left as it was.
    assert list(outputs[0]["features"]) == [("a.root", 0)]
    np.testing.assert_array_equal(
        order_features(merged["features"], ["a.root"]), np.vstack([first, second])
    )


def test_chunk_arrays_reject_duplicates():
    chunk = ChunkArrays({("a.root", 0): np.zeros((1, 2))})

    with pytest.raises(ValueError, match="chunks counted twice"):
        chunk + ChunkArrays({("a.root", 0): np.ones((1, 2))})
