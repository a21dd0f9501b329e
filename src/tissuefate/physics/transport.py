r"""Transport pieces of chemical injection: stable step, active box, kill laws and the balance.

The kernels themselves live in :mod:`tissuefate.backends.transport_kernels`; the model that drives
them is :class:`tissuefate.physics.injection.InjectionModel`. This module holds the small pure
functions around them, each testable on its own.
"""

from __future__ import annotations

import math

import numpy as np

from .darcy import DarcyFlow

__all__ = [
    "LEAK_PATHS",
    "diffusion_time_step_s",
    "grow_active_box",
    "ct_log_kill_rate_per_s",
    "react_with_demand",
    "leak_balance",
]

#: Where fluid and agent leave the tissue.
LEAK_PATHS = ("vessel", "tract", "surface", "boundary")


def diffusion_time_step_s(diffusion_m2_per_s: float, spacing_m, safety: float = 0.9) -> float:
    r"""Largest stable step of the explicit 7-point diffusion update [s] times ``safety``.

    Notes
    -----
    .. math:: \Delta t \le \Big(2D\sum_a h_a^{-2}\Big)^{-1}

    Examples
    --------
    >>> round(diffusion_time_step_s(5.9e-10, (1e-3,) * 3, 1.0), 1)
    282.5
    """
    if diffusion_m2_per_s <= 0:
        return math.inf
    return safety / (2.0 * diffusion_m2_per_s * sum(1.0 / h**2 for h in spacing_m))


def grow_active_box(s, c, box, rank, k_end):
    """Widen ``box`` (in place, never shrinking) to one voxel beyond the non-zero region of s, c;
    return ``k_end`` raised to the highest sweep position holding anything (None: unchanged)."""
    shape = s.shape
    bx = (slice(box[0], box[1]), slice(box[2], box[3]), slice(box[4], box[5]))
    nzm = (s[bx] != 0) | (c[bx] != 0)
    if not nzm.any():
        return k_end
    for ax in range(3):
        hit = np.flatnonzero(nzm.any(axis=tuple(x for x in range(3) if x != ax)))
        lo, hi = box[2 * ax] + hit[0], box[2 * ax] + hit[-1] + 1
        box[2 * ax] = min(box[2 * ax], max(lo - 1, 0))
        box[2 * ax + 1] = max(box[2 * ax + 1], min(hi + 1, shape[ax]))
    if k_end is None:
        return None
    return max(k_end, int(rank[bx][nzm].max()))


def ct_log_kill_rate_per_s(c_mol_per_m3, agent, mobile_fraction: float):
    r"""Log-kill rate of the concentration–time law [1/s].

    Notes
    -----
    .. math:: \dot\Lambda = k\,\max\!\Big(\frac{c}{\varphi\,c_{pure}} - \theta,\ 0\Big)

    c per tissue volume, :math:`c/\varphi` the pore-fluid concentration; ``agent`` supplies
    ``kill_rate_per_s`` k, ``kill_threshold`` θ and ``pure_concentration_mol_per_m3``
    (an :class:`~tissuefate.physics.injection.Agent`).

    Examples
    --------
    >>> from tissuefate.physics.injection import Agent
    >>> a = Agent.ethanol(0.95)
    >>> r = ct_log_kill_rate_per_s(np.array([0.0, 0.3 * a.concentration_mol_per_m3]), a, 0.3)
    >>> [round(float(v), 4) for v in r]
    [0.0, 0.075]
    """
    c = np.asarray(c_mol_per_m3, dtype=np.float64)
    x = c / (mobile_fraction * agent.pure_concentration_mol_per_m3) - agent.kill_threshold
    return agent.kill_rate_per_s * np.maximum(x, 0.0)


def react_with_demand(c_mol_per_m3, consumed_mol_per_m3, available_demand_mol_per_m3):
    r"""Instantaneous stoichiometric reaction of a free oxidant with the remaining demand (in place).

    Notes
    -----
    .. math:: r = \min\big(c,\ \max(D_{avail} - D_{consumed}, 0)\big),\quad c \mathrel{-}= r,\quad
              D_{consumed} \mathrel{+}= r

    Returns the moles per m³ reacted in each voxel.

    Examples
    --------
    >>> c = np.array([5.0, 1.0]); used = np.array([0.0, 3.0])
    >>> r = react_with_demand(c, used, np.array([4.0, 4.0]))
    >>> c.tolist(), used.tolist(), r.tolist()
    ([1.0, 0.0], [4.0, 4.0], [4.0, 1.0])
    """
    r = np.minimum(c_mol_per_m3, np.maximum(available_demand_mol_per_m3 - consumed_mol_per_m3, 0.0))
    c_mol_per_m3 -= r
    consumed_mol_per_m3 += r
    return r


def leak_balance(delivered, X, consumed, leak_amt, washed, vessel_washed, truncated, flow: DarcyFlow, tract,
                 voxel_volume_m3) -> dict:
    """Where the delivered amount went (volumes [m³] or moles [mol]).

    Parameters
    ----------
    delivered : float
        Injected amount.
    X, consumed : ndarray or None
        Free and reacted amount per tissue volume at the end.
    leak_amt : ndarray
        Amount that left each voxel through its Darcy sink; a tract voxel's is booked as ``tract``,
        any other's split between ``vessel``, ``surface`` and ``boundary`` in proportion to the
        voxel's sink conductances (the sink outflows of ``flow``).
    washed, vessel_washed, truncated : float
        Amounts washed out by perfusion, washed out of large vessels (a vessel leak) and flushed.
    tract : ndarray of bool
    voxel_volume_m3 : float

    Returns
    -------
    dict
        delivered, retained, consumed, leaked (by :data:`LEAK_PATHS`), leaked_via_cracks (sink
        outflow of cracked voxels, a subset of leaked), washed_out, truncated and
        relative_error = (delivered − everything else) / delivered.
    """
    V = voxel_volume_m3
    tot = flow.sink_m3_per_s
    with np.errstate(invalid="ignore", divide="ignore"):
        share = {k: np.where(tot > 0, arr / tot, 0.0) for k, arr in (
            ("vessel", flow.sink_vessel_m3_per_s), ("surface", flow.sink_surface_m3_per_s),
            ("boundary", flow.sink_box_m3_per_s))}
    out = {k: float((leak_amt * share[k])[~tract].sum()) for k in ("vessel", "surface", "boundary")}
    out["tract"] = float(leak_amt[tract].sum())
    out["vessel"] += float(vessel_washed)
    leaked = {k: out[k] for k in LEAK_PATHS}
    washed_out = float(washed)
    retained = float(X.sum() * V)
    cons = 0.0 if consumed is None else float(consumed.sum() * V)
    total = retained + cons + sum(leaked.values()) + washed_out + truncated
    err = (delivered - total) / delivered if delivered > 0 else 0.0
    return {"delivered": float(delivered), "retained": retained, "consumed": cons, "leaked": leaked,
            "leaked_via_cracks": float(leak_amt[flow.cracked].sum()), "washed_out": washed_out,
            "truncated": float(truncated), "relative_error": float(err)}
