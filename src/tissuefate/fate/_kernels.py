"""numba kernels of the fate step: the NumPy semantics of :meth:`FateModel._step_numpy` fused in one
parallel pass per step (the NumPy version stays the test oracle).

Arrays are float64 C-contiguous ``[x, y, z]``; ``prange`` over x-planes. The three fields with a
stencil (vessels ``V``, parenchyma ``N``, tumour ``T``) are double-buffered: read from ``*_old``,
written to ``*_new``; the pointwise fields are updated in place. Neighbours across the box face are
read from the full grid (they are steady there, so the result equals the box-local NumPy stencil).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["fate_step", "active_box", "box_sums"]


@njit(cache=True, inline="always")
def _lap(u, mask, i, j, k, nx, ny, nz, ih2x, ih2y, ih2z):
    c = u[i, j, k]
    s = 0.0
    if i > 0 and mask[i - 1, j, k]:
        s += (u[i - 1, j, k] - c) * ih2x
    if i < nx - 1 and mask[i + 1, j, k]:
        s += (u[i + 1, j, k] - c) * ih2x
    if j > 0 and mask[i, j - 1, k]:
        s += (u[i, j - 1, k] - c) * ih2y
    if j < ny - 1 and mask[i, j + 1, k]:
        s += (u[i, j + 1, k] - c) * ih2y
    if k > 0 and mask[i, j, k - 1]:
        s += (u[i, j, k - 1] - c) * ih2z
    if k < nz - 1 and mask[i, j, k + 1]:
        s += (u[i, j, k + 1] - c) * ih2z
    return s


@njit(cache=True, inline="always")
def _no_tumour_near(T, i, j, k, nx, ny, nz):
    if i > 0 and T[i - 1, j, k] > 0:
        return False
    if i < nx - 1 and T[i + 1, j, k] > 0:
        return False
    if j > 0 and T[i, j - 1, k] > 0:
        return False
    if j < ny - 1 and T[i, j + 1, k] > 0:
        return False
    if k > 0 and T[i, j, k - 1] > 0:
        return False
    if k < nz - 1 and T[i, j, k + 1] > 0:
        return False
    return True


@njit(cache=True, parallel=True)
def fate_step(i0, i1, j0, j1, k0, k1, tissue, regen,
              V_old, V_new, N_old, N_new, T_old, T_new, Dn, Df, S, E, I,
              ih2x, ih2y, ih2z, dt, Dv, rv, mu, kn, kf, sI, lamI, ks, smax, decS, rN, lN2, rho, lT2, fI, t_floor,
              kI, vth):
    """One fate step on the box ``[i0:i1, j0:j1, k0:k1]``; returns (cleared, regenerated) sums [voxels].

    ``kI`` [1/day] and ``vth`` [1]: secondary ischaemic death (0: off), at the end-of-step ``v_new``."""
    nx, ny, nz = tissue.shape
    cleared = 0.0
    regen_sum = 0.0
    for i in prange(i0, i1):
        for j in range(j0, j1):
            for k in range(k0, k1):
                v = V_old[i, j, k]
                n = N_old[i, j, k]
                t = T_old[i, j, k]
                if not tissue[i, j, k]:
                    V_new[i, j, k] = v
                    N_new[i, j, k] = n
                    T_new[i, j, k] = t
                    continue
                dn = Dn[i, j, k]
                df = Df[i, j, k]
                s = S[i, j, k]
                if (dn == 0.0 and df == 0.0 and s == 0.0 and t == 0.0 and v == 1.0 and I[i, j, k] == 0.0
                        and (n == 1.0 or not regen[i, j, k]) and _no_tumour_near(T_old, i, j, k, nx, ny, nz)):
                    # at the fixed point with no tumour to invade from: nothing changes (skips the exps)
                    V_new[i, j, k] = v
                    N_new[i, j, k] = n
                    T_new[i, j, k] = t
                    continue
                m = 1.0 - (1.0 - mu) * df
                # each transcendental is skipped where its argument makes it the identity
                v_new = v
                if v < 1.0 or df > 0.0:
                    lv = _lap(V_old, tissue, i, j, k, nx, ny, nz, ih2x, ih2y, ih2z)
                    vt = v + dt * max(0.0, Dv * m * lv)
                    e = math.exp(rv * m * dt)
                    v_new = vt * e / (1.0 + vt * (e - 1.0))
                dn_new = dn * math.exp(-kn * v_new * dt) if dn > 0.0 else 0.0
                df_new = df * math.exp(-kf * v_new * dt) if df > 0.0 else 0.0
                cleared += (dn - dn_new) + (df - df_new)
                d_new = dn_new + df_new
                i_old = I[i, j, k]
                i_new = 0.0
                if i_old > 0.0 or d_new > 0.0:
                    a = fI * sI * v_new * d_new
                    iinf = a / (a + lamI)
                    i_new = iinf + (i_old - iinf) * math.exp(-(a + lamI) * dt)
                free = max(1.0 - t - n - d_new - s, 0.0)
                room = min(free, max(smax - s, 0.0))
                s_new = s - s * decS
                if room > 0.0 and i_new * d_new > 0.0:
                    s_new += room * -math.expm1(-fI * ks * i_new * d_new * dt)
                free = max(1.0 - t - n - d_new - s_new, 0.0)
                gain_n = 0.0
                if rN > 0.0 and free > 0.0 and regen[i, j, k]:
                    g = max(n + lN2 * _lap(N_old, regen, i, j, k, nx, ny, nz, ih2x, ih2y, ih2z), 0.0)
                    gain_n = free * -math.expm1(-rN * E[i, j, k] * g * dt)
                regen_sum += gain_n
                n_new = n + gain_n
                t_new = t
                if rho > 0.0:
                    K = max(1.0 - d_new - s_new, 0.0)
                    g = max(t + lT2 * _lap(T_old, tissue, i, j, k, nx, ny, nz, ih2x, ih2y, ih2z), 0.0)
                    grow = 0.0
                    if K > 0.0 and 0.0 < g < K:
                        et = math.exp(rho * K * dt)
                        grow = max(g * et / (1.0 + g * (et - 1.0) / K) - g, 0.0)
                    t_new = min(t + grow, K)
                    if t_new < t_floor:
                        t_new = 0.0
                    n_new = min(n_new, max(1.0 - t_new - d_new - s_new, 0.0))
                if kI > 0.0 and v_new < vth:
                    # secondary ischaemic death: cells die in place into non-fixed debris
                    frac = -math.expm1(-kI * max(1.0 - v_new / vth, 0.0) * dt)
                    lt = t_new * frac
                    if t_new - lt < t_floor:
                        lt = t_new
                    ln = n_new * frac
                    t_new = t_new - lt
                    n_new = n_new - ln
                    dn_new = dn_new + (lt + ln)
                V_new[i, j, k] = v_new
                N_new[i, j, k] = n_new
                T_new[i, j, k] = t_new
                Dn[i, j, k] = dn_new
                Df[i, j, k] = df_new
                I[i, j, k] = i_new
                S[i, j, k] = s_new
    return cleared, regen_sum


@njit(cache=True)
def active_box(T, N, Dn, Df, S, V, I, tissue, regen):
    """Bounding box (i0, i1, j0, j1, k0, k1) of the non-steady tissue voxels; i0 = -1 if none."""
    nx, ny, nz = T.shape
    lo = np.array([nx, ny, nz])
    hi = np.array([-1, -1, -1])
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if not tissue[i, j, k]:
                    continue
                free = 1.0 - T[i, j, k] - N[i, j, k] - Dn[i, j, k] - Df[i, j, k] - S[i, j, k]
                # V < 1 also covers the voxels where secondary ischaemic death acts (V < vth <= 1)
                if (Dn[i, j, k] > 0 or Df[i, j, k] > 0 or S[i, j, k] > 0 or I[i, j, k] > 0 or T[i, j, k] > 0
                        or V[i, j, k] < 1 or (regen[i, j, k] and free > 0)):
                    if i < lo[0]:
                        lo[0] = i
                    if i > hi[0]:
                        hi[0] = i
                    if j < lo[1]:
                        lo[1] = j
                    if j > hi[1]:
                        hi[1] = j
                    if k < lo[2]:
                        lo[2] = k
                    if k > hi[2]:
                        hi[2] = k
    if hi[0] < 0:
        return -1, 0, 0, 0, 0, 0
    return lo[0], hi[0] + 1, lo[1], hi[1] + 1, lo[2], hi[2] + 1


@njit(cache=True, parallel=True)
def box_sums(Dn, Df, S, T, I, i0, i1, j0, j1, k0, k1):
    """Sums over the box: non-fixed debris, fixed debris, scar, tumour, count(D + S >= 0.5),
    sum and count of inflammation > 0.01."""
    a = 0.0
    b = 0.0
    c = 0.0
    d = 0.0
    zc = 0.0
    isum = 0.0
    ic = 0.0
    for i in prange(i0, i1):
        for j in range(j0, j1):
            for k in range(k0, k1):
                dn = Dn[i, j, k]
                df = Df[i, j, k]
                s = S[i, j, k]
                a += dn
                b += df
                c += s
                d += T[i, j, k]
                if dn + df + s >= 0.5:
                    zc += 1.0
                x = I[i, j, k]
                if x > 0.01:
                    isum += x
                    ic += 1.0
    return a, b, c, d, zc, isum, ic

