"""Physics observables of a dimuon pair, computed with ``vector``.

Every function takes the four-momenta of the two muons as ``(n, 4)`` arrays of
``(px, py, pz, E)`` in GeV, one row per event, with the mu- first and the mu+
second. Lab frame conventions: z is the beam axis, azimuthal angles are in
radians in ``(-pi, pi]``.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Mapping

import numpy as np
import vector

#: Unit of each built-in observable, for axis labels and tables.
OBSERVABLE_UNITS: dict[str, str] = {
    "m_mumu": "GeV",
    "pt_mumu": "GeV",
    "y_mumu": "",
    "cos_theta_cs": "",
    "phi_cs": "rad",
    "delta_phi": "rad",
}

# Below this length of the sum of the two beam unit vectors in the pair rest
# frame, the pair has no transverse momentum to define the Collins-Soper x axis.
_ZERO_PT_TOLERANCE = 1e-12

ObservableFunction = Callable[
    [vector.MomentumNumpy4D, vector.MomentumNumpy4D], np.ndarray
]


def to_momentum4d(four_momenta: np.ndarray, name: str = "four_momenta"):
    """Convert an ``(n, 4)`` array of ``(px, py, pz, E)`` in GeV to a vector array.

    The values are copied to float64. ``name`` labels the array in error
    messages. Raises ValueError for another shape or for non-finite values.
    """
    array = np.asarray(four_momenta, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        msg = (
            f"{name} has shape {array.shape}, expected (n, 4) with columns "
            "(px, py, pz, E) in GeV; reshape it or select the four columns"
        )
        raise ValueError(msg)

    if not np.all(np.isfinite(array)):
        bad_rows = np.flatnonzero(~np.all(np.isfinite(array), axis=1))
        msg = (
            f"{name} contains non-finite values in {bad_rows.size} events "
            f"(first rows: {bad_rows[:5].tolist()}); drop or repair those events"
        )
        raise ValueError(msg)

    return vector.array(
        {
            "px": array[:, 0].copy(),
            "py": array[:, 1].copy(),
            "pz": array[:, 2].copy(),
            "E": array[:, 3].copy(),
        }
    )


def _to_muon_pair(mu_minus: np.ndarray, mu_plus: np.ndarray):
    minus = to_momentum4d(mu_minus, "mu_minus")
    plus = to_momentum4d(mu_plus, "mu_plus")
    if len(minus) != len(plus):
        msg = (
            f"mu_minus has {len(minus)} events but mu_plus has {len(plus)}; "
            "pass the two muons of the same events"
        )
        raise ValueError(msg)
    return minus, plus


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _momentum3(four_momenta) -> np.ndarray:
    return np.stack([four_momenta.px, four_momenta.py, four_momenta.pz], axis=1)


def collins_soper_angles(
    mu_minus: np.ndarray, mu_plus: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the Collins-Soper angles ``(cos_theta_cs, phi_cs)`` of the mu-.

    The frame is that of Collins & Soper, Phys. Rev. D 16 (1977) 2219, built in
    the dimuon rest frame from the two beam directions ``P_A`` and ``P_B``
    boosted into it:

    - z axis: the bisector of ``P_A`` and ``-P_B``;
    - x axis: in the plane of the two beams, pointing away from
      ``P_A + P_B``, which is along the pair transverse momentum;
    - y axis: ``z × x``, so that the frame is right-handed.

    For proton-proton collisions the two beams are indistinguishable, so
    ``P_A`` is taken along the sign of the pair's lab pz (``+z`` when pz is
    exactly 0), the usual choice that makes the z axis follow the pair's
    longitudinal motion. Choosing ``P_A`` along ``-z`` instead flips the signs
    of both cos(theta) and phi.

    The beams are massless, so their energies do not change their directions
    in the rest frame and are not needed. When the pair has no transverse
    momentum, the x axis is undefined and the lab x axis is used instead.
    cos(theta) is in ``[-1, 1]`` and phi in radians in ``(-pi, pi]``.
    """
    minus, plus = _to_muon_pair(mu_minus, mu_plus)
    pair = minus + plus
    n_events = len(pair)

    beam_sign = np.where(np.asarray(pair.pz) < 0.0, -1.0, 1.0)
    zeros = np.zeros(n_events)
    ones = np.ones(n_events)
    beam_a = vector.array({"px": zeros, "py": zeros, "pz": beam_sign, "E": ones})
    beam_b = vector.array({"px": zeros, "py": zeros, "pz": -beam_sign, "E": ones})

    muon_rest = _momentum3(minus.boostCM_of_p4(pair))
    beam_a_rest = _unit_rows(_momentum3(beam_a.boostCM_of_p4(pair)))
    beam_b_rest = _unit_rows(_momentum3(beam_b.boostCM_of_p4(pair)))

    z_axis = _unit_rows(beam_a_rest - beam_b_rest)

    # For unit vectors a and b, a + b is orthogonal to a - b, so this x axis
    # is orthogonal to the z axis without a further projection.
    beam_sum = beam_a_rest + beam_b_rest
    beam_sum_length = np.linalg.norm(beam_sum, axis=1)
    has_pt = beam_sum_length > _ZERO_PT_TOLERANCE
    x_axis = np.empty_like(z_axis)
    x_axis[has_pt] = -beam_sum[has_pt] / beam_sum_length[has_pt, None]

    lab_x = np.array([1.0, 0.0, 0.0])
    z_no_pt = z_axis[~has_pt]
    projected = lab_x - np.sum(z_no_pt * lab_x, axis=1, keepdims=True) * z_no_pt
    x_axis[~has_pt] = _unit_rows(projected)

    y_axis = np.cross(z_axis, x_axis)

    muon_length = np.linalg.norm(muon_rest, axis=1)
    cos_theta = np.sum(muon_rest * z_axis, axis=1) / muon_length
    phi = np.arctan2(
        np.sum(muon_rest * y_axis, axis=1), np.sum(muon_rest * x_axis, axis=1)
    )
    return np.clip(cos_theta, -1.0, 1.0), phi


def compute_observables(
    mu_minus: np.ndarray, mu_plus: np.ndarray
) -> dict[str, np.ndarray]:
    """Compute the standard observables of each dimuon pair.

    Returns float64 arrays of shape ``(n,)`` keyed by name:

    - ``m_mumu``: invariant mass in GeV. For a spacelike sum, which only
      rounding of collinear massless muons can produce, ``vector`` returns
      ``-sqrt(|m^2|)``.
    - ``pt_mumu``: transverse momentum of the pair in GeV.
    - ``y_mumu``: rapidity ``0.5 ln((E + pz) / (E - pz))`` of the pair.
    - ``cos_theta_cs``, ``phi_cs``: Collins-Soper angles of the mu-, see
      :func:`collins_soper_angles` for the frame and sign conventions.
    - ``delta_phi``: absolute azimuthal difference between the muons in the lab,
      in radians in ``[0, pi]``. The absolute value keeps back-to-back pairs,
      the most common case, away from the ``-pi``/``pi`` wrap.
    """
    minus, plus = _to_muon_pair(mu_minus, mu_plus)
    pair = minus + plus
    cos_theta_cs, phi_cs = collins_soper_angles(mu_minus, mu_plus)
    return {
        "m_mumu": np.asarray(pair.mass, dtype=np.float64),
        "pt_mumu": np.asarray(pair.pt, dtype=np.float64),
        "y_mumu": np.asarray(pair.rapidity, dtype=np.float64),
        "cos_theta_cs": cos_theta_cs,
        "phi_cs": phi_cs,
        "delta_phi": np.abs(np.asarray(minus.deltaphi(plus), dtype=np.float64)),
    }


def evaluate_observables(
    mu_minus: np.ndarray,
    mu_plus: np.ndarray,
    definitions: Mapping[str, ObservableFunction],
) -> dict[str, np.ndarray]:
    """Evaluate user-defined observables of each dimuon pair.

    Each value of ``definitions`` is called as ``function(mu_minus, mu_plus)``
    with the two muons as ``vector.MomentumNumpy4D`` arrays in GeV, and must
    return one number per event, for example
    ``{"pz_mumu": lambda minus, plus: (minus + plus).pz}``. The results are
    returned as float64 arrays of shape ``(n,)`` under the same names. Raises
    :class:`ObservableError` (a ValueError) when a result is not one number
    per event.
    """
    minus, plus = _to_muon_pair(mu_minus, mu_plus)
    n_events = len(minus)

    values = {}
    for name, function in definitions.items():
        raw = function(minus, plus)
        try:
            result = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            msg = (
                f"observable {name!r} returned a {type(raw).__name__}, not one "
                "number per event; take a component such as pair.pz or pair.mass"
            )
            raise ObservableError(msg) from None
        if result.shape != (n_events,):
            msg = (
                f"observable {name!r} returned shape {result.shape}, expected "
                f"({n_events},) with one value per event; reduce it per event"
            )
            raise ObservableError(msg)
        values[name] = result
    return values


#: Names an observable expression can use besides ``minus``, ``plus`` and
#: ``pair``.
EXPRESSION_NAMES: dict[str, object] = {
    "np": np,
    "abs": np.abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "cos": np.cos,
    "sin": np.sin,
    "tan": np.tan,
    "arctan2": np.arctan2,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
    "pi": np.pi,
}

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")

# Two pairs at which a new observable is tried before any event is read: a Z
# decaying along the beam and a boosted pair with transverse momentum.
_PROBE_MINUS = np.array([[0.0, 0.0, 45.6, 45.6], [20.0, 10.0, 30.0, 37.4]])
_PROBE_PLUS = np.array([[0.0, 0.0, -45.6, 45.6], [-5.0, 15.0, -20.0, 25.5]])


class ObservableError(ValueError):
    """A user-defined observable cannot be built or evaluated."""


def observable_from_text(text: str, name: str | None = None) -> ObservableFunction:
    """Build an observable from a command-line definition.

    ``text`` is either ``module:function`` or a Python expression. The first
    names a function importable from ``sys.path``, called as
    ``function(minus, plus)``. The expression may use ``minus`` and ``plus``
    (the muons as ``vector`` arrays), ``pair`` (their sum) and the names in
    :data:`EXPRESSION_NAMES`, such as ``pair.pz`` or
    ``abs(minus.eta - plus.eta)``. It runs with the rights of the user who
    typed it, like any Python they run.

    The observable is tried on two example pairs, so that a misspelt name or
    a result with the wrong shape fails here rather than after training.
    Warnings of that trial, such as a division by the zero pT of one example,
    are not shown. ``name`` labels the observable in messages (default: the
    definition). Raises :class:`ObservableError` with the reason.
    """
    text = text.strip()
    label = name or text
    if not text:
        msg = (
            f"the definition of observable {label!r} is empty; give an "
            "expression such as pair.pz"
        )
        raise ObservableError(msg)
    if _IMPORT_PATH.fullmatch(text):
        function = _import_function(text, label)
    else:
        function = _compile_expression(text, label)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            evaluate_observables(_PROBE_MINUS, _PROBE_PLUS, {label: function})
    except ObservableError as error:
        msg = f"{error} (tried on two example muon pairs)"
        raise ObservableError(msg) from error
    except Exception as error:
        msg = f"observable {label!r} fails on two example muon pairs: {error}"
        raise ObservableError(msg) from error
    return function


def _import_function(text: str, label: str) -> ObservableFunction:
    module_name, _, attribute = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        msg = (
            f"cannot import {module_name!r} for observable {label!r} ({error}); "
            "put the folder that holds it on PYTHONPATH"
        )
        raise ObservableError(msg) from error
    except (Exception, SystemExit) as error:
        # The module was found but running it failed: a syntax error, or an
        # exception at import time.
        msg = (
            f"importing {module_name!r} for observable {label!r} failed: "
            f"{type(error).__name__}: {error}"
        )
        raise ObservableError(msg) from error
    function = getattr(module, attribute, None)
    if not callable(function):
        msg = f"{module_name!r} has no function {attribute!r} for observable {label!r}"
        raise ObservableError(msg)
    return function


def _compile_expression(text: str, label: str) -> ObservableFunction:
    try:
        code = compile(text, f"<observable {label}>", "eval")
    except SyntaxError as error:
        msg = f"observable {label!r}: {text!r} is not a Python expression: {error.msg}"
        raise ObservableError(msg) from None

    def observable(minus, plus):
        names = {**EXPRESSION_NAMES, "minus": minus, "plus": plus, "pair": minus + plus}
        try:
            return eval(code, {"__builtins__": {}}, names)
        except NameError as error:
            known = ", ".join(["minus", "plus", "pair", *EXPRESSION_NAMES])
            msg = f"observable {label!r}: {error}; the names it can use are {known}"
            raise ObservableError(msg) from None

    return observable
