r"""A local re-solve of a conductance network after σ changed inside a small box.

When σ changes next to an RF electrode (desiccation collapses it, heating raises it), the
potential changes most near the change. :func:`local_resolve` re-solves ``∇·(σ∇φ) = 0`` in the
box ``R`` (the changed box and the electrode, grown by ``margin`` voxels) and lets the potential
outside ``R`` change in *amplitude* only:

.. math:: \varphi = x_1 + (\alpha - 1)\,y \ \text{in } R, \qquad
          \varphi = \alpha\,\varphi_\text{old} \ \text{outside } R,

where ``x₁`` solves R's problem with the outer shell held at φ_old and ``y`` the same problem with
the electrodes at 0 (the part of x₁ due to the shell). The amplitude α minimises the network's
Dirichlet energy ``E(α) = Σ_faces G Δφ²`` (a quadratic in α). This is the Galerkin solution in
that trial space: its energy is an upper bound of the network's conductance at 1 V (Dirichlet's
principle) with an error of second order in the error of φ, so the power is taken as ``E(α*)``.
With the outer φ merely held (α = 1), the current through R would be off at first order (in a
series model of resistances ``a`` inside and ``b`` outside R, a change δ of ``a`` is seen as ``δ/a``
instead of ``δ/(a+b)``), and the heating in and outside R with it: on the standard 12-min RFA
case that gave +4 % in the Ω ≥ 1 volume when σ was re-solved every step; with α the local and
global re-solves agree (docs/model.md, "Potential re-solves"). Outside R the heating scales with
α²; the caller keeps that factor.

Requirements: every voxel whose potential is fixed at a nonzero value lies inside R with its
neighbours (``include``), and the grid's own Dirichlet faces are at zero; otherwise α is kept at 1.
The solver re-solves globally instead when R would hold more than 40 % of the grid
(``PotentialSolver.LOCAL_MAX_FRACTION``).

Cost. At 128³ with a 3-cm electrode, R (margin 4 mm, ``PotentialSolver.LOCAL_MARGIN_M``) holds
< 1 % of the voxels: a local update costs a few milliseconds against 60–90 ms for a global
re-solve (docs/performance.md). The structures of a box (sub-grids, multigrid hierarchy, the last
``y``) are cached by the caller.
"""

from __future__ import annotations

import numpy as np

from .multigrid import GeometricMultigrid, network_matvec, pcg
from .multigrid_kernels import _dot
from .network_kernels import assemble_network, network_dissipation

__all__ = ["box_around", "box_size", "grow_box", "local_resolve", "union_box"]

Box = tuple[slice, slice, slice]


def grow_box(box: Box, margin: int, shape) -> Box:
    """``box`` (three slices with explicit bounds) grown by ``margin`` voxels, clipped to ``shape``.

    Examples
    --------
    >>> grow_box((slice(2, 4), slice(0, 3), slice(5, 6)), 2, (8, 8, 8))
    (slice(0, 6, None), slice(0, 5, None), slice(3, 8, None))
    """
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n))
                 for s, n in zip(box, shape, strict=True))


def box_around(mask, margin: int) -> Box:
    """Bounding box of the True voxels of ``mask`` grown by ``margin`` voxels (clipped to the grid).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((10, 10, 10), bool); m[1, 5, 8] = True
    >>> box_around(m, 3)
    (slice(0, 5, None), slice(2, 9, None), slice(5, 10, None))
    """
    idx = np.nonzero(mask)
    return grow_box(tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx), margin, mask.shape)


def union_box(a: Box, b: Box) -> Box:
    """The smallest box holding boxes ``a`` and ``b``.

    Examples
    --------
    >>> union_box((slice(0, 2), slice(3, 4), slice(1, 2)), (slice(1, 5), slice(0, 1), slice(1, 2)))
    (slice(0, 5, None), slice(0, 4, None), slice(1, 2, None))
    """
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b, strict=True))


def box_size(box: Box) -> int:
    """Number of voxels of a box of three slices with explicit bounds."""
    return int(np.prod([s.stop - s.start for s in box]))


def _within(inner: Box, outer: Box) -> Box:
    """``inner`` in the coordinates of ``outer`` (which contains it)."""
    return tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer, strict=True))


def _sub_faces(sub: Box, shape, dflag, faces):
    """The Dirichlet flags and face-potential arrays of the box faces that ``sub`` shares with the
    grid (its other faces are cut: insulated, and only voxels away from them are used)."""
    flags = np.zeros(6, np.bool_)
    out = []
    for f in range(6):
        ax, side = divmod(f, 2)
        touches = sub[ax].stop == shape[ax] if side else sub[ax].start == 0
        others = [sub[a] for a in range(3) if a != ax]
        if touches and dflag[f]:
            flags[f] = True
            out.append(np.ascontiguousarray(faces[f][others[0], others[1]]))
        else:
            out.append(np.zeros((others[0].stop - others[0].start, others[1].stop - others[1].start)))
    return flags, out


class _LocalBox:
    """Everything about one local box R that does not change from one re-solve to the next: the
    sub-boxes, the fixed-voxel data, the network buffers, the multigrid hierarchy and the last
    ``y`` (a warm start for the next)."""

    def __init__(self, R, shape, kind, fixv, dflag, faces):
        self.R = R
        self.S2 = S2 = grow_box(R, 1, shape)  # R and its outer shell: the local network
        self.S3 = S3 = grow_box(R, 2, shape)  # with the shell's neighbours: every face of S2's voxels
        self.in3, self.r3 = _within(S2, S3), _within(R, S3)  # S2 (whose dissipation changes) and R in S3
        self.kind3 = np.ascontiguousarray(kind[S3])
        self.fixv3 = np.ascontiguousarray(fixv[S3])
        self.flags3, self.fc3 = _sub_faces(S3, shape, dflag, faces)
        self.flags2, self.fc2 = _sub_faces(S2, shape, dflag, faces)
        self.kind2 = np.ascontiguousarray(self.kind3[self.in3])
        self.fixv2 = np.ascontiguousarray(self.fixv3[self.in3])
        n2 = self.kind2.shape
        self.net = (np.empty((n2[0] - 1, n2[1], n2[2]), np.float32), np.empty((n2[0], n2[1] - 1, n2[2]), np.float32),
                    np.empty((n2[0], n2[1], n2[2] - 1), np.float32), np.empty(n2, np.float32), np.empty(n2))
        r = self.r = _within(R, S2)
        nr = tuple(x.stop - x.start for x in r)
        self.act = np.ascontiguousarray(self.kind2[r] == 0, dtype=np.uint8)
        self.on = self.act != 0
        self.gr = (np.empty((nr[0] - 1, nr[1], nr[2]), np.float32), np.empty((nr[0], nr[1] - 1, nr[2]), np.float32),
                   np.empty((nr[0], nr[1], nr[2] - 1), np.float32), np.empty(nr, np.float32))
        # R's layers next to the shell: (axis, low side?, index of the face in S2's network, shell
        # layer in S2); none on a side where R reaches the grid's face
        self.shell = []
        for ax in range(3):
            for lo in (True, False):
                edge = r[ax].start if lo else r[ax].stop - 1
                sh = edge - 1 if lo else edge + 1
                if 0 <= sh < n2[ax]:
                    self.shell.append((ax, lo, edge - 1 if lo else edge, sh))
        self.mg: GeometricMultigrid | None = None
        self.y: np.ndarray | None = None


def _fill(phi3, r, x, alpha):
    """The field of S3 for the outer amplitude ``alpha``: ``alpha`` × φ outside R, ``x`` in R."""
    u = phi3 * alpha
    u[r] = x
    return u


def local_resolve(*, sigma, kind, fixv, efac, keep, phi, spacing, dflag, faces, box: Box, sigma_box,
                  margin: int, rtol: float, energy_W: float, phi_scale: float = 1.0, rescale: bool = True,
                  cache: dict | None = None, include: Box | None = None, maxiter: int = 200):
    """Re-solve the potential near ``box`` after σ there became ``sigma_box`` (see module notes).

    ``sigma`` (float64, validated) is the network's full conductivity and is updated in place
    (``sigma[box] = sigma_box``). ``phi`` is the stored potential: the potential of the unknown
    voxels is ``phi_scale × phi`` (fixed voxels are at ``fixv``). The other arguments are those
    of :func:`~tissuefate.physics.network_kernels.assemble_network` and
    :func:`~tissuefate.physics.network_kernels.network_dissipation` (``spacing`` = ``(hx, hy, hz)``
    [m], ``faces`` the six face-potential arrays); ``energy_W`` is the network's Dirichlet energy
    at 1 V before the change (its power). ``include`` (a box) is added to the local box: with
    ``rescale`` it must hold every voxel fixed at a nonzero potential and its neighbours.
    Without ``rescale`` the potential outside R is held (α = 1). ``cache`` (a dict the caller
    keeps) holds the per-box structures from one call to the next.

    Returns
    -------
    region : tuple of slices
        ``R`` grown by one voxel: where the dissipation changed (outside it, it changes by the
        factor ``alpha²``).
    q_W : ndarray of float64
        The new per-voxel dissipation [W] in ``region`` (with the electrode's ``keep`` shares).
    energy_W : float
        The network's new Dirichlet energy at 1 V [W] (its power).
    alpha : float
        Factor on the potential outside R; ``phi`` is updated in place for the new scale
        ``phi_scale × alpha``.
    iterations : int
        PCG iterations of the local solve(s).
    """
    shape = sigma.shape
    R = grow_box(box if include is None else union_box(box, include), margin, shape)
    key = tuple((x.start, x.stop) for x in R)
    lb = cache.get(key) if cache is not None else None
    if lb is None:
        lb = _LocalBox(R, shape, kind, fixv, dflag, faces)
        if cache is not None:
            if len(cache) >= 8:
                cache.clear()
            cache[key] = lb
    S3, r3, in3 = lb.S3, lb.r3, lb.in3
    sig3 = np.array(sigma[S3])
    phi3 = np.array(phi[S3])
    if phi_scale != 1.0:
        phi3 *= phi_scale
    ones = np.ones_like(keep)
    qbuf = np.empty(sig3.shape)

    def dissipation(u, k=ones):
        network_dissipation(sig3, lb.kind3, lb.fixv3, efac, k, u, *spacing, lb.flags3, *lb.fc3, qbuf)
        return qbuf[in3]

    e_out = energy_W - float(dissipation(phi3).sum())  # faces no voxel of S2 shares: they scale as α²

    sigma[box] = sigma_box
    sig3[_within(box, S3)] = sigma_box
    # the network of S2 with its cut faces insulated: exact for every voxel of R
    gx, gy, gz, g0, b = lb.net
    assemble_network(np.ascontiguousarray(sig3[in3]), lb.kind2, lb.fixv2, efac, *spacing, lb.flags2, *lb.fc2,
                     gx, gy, gz, g0, b)
    # R's system: faces inside R, and those to the shell moved to g0 and a second right-hand side
    r = lb.r
    gxr, gyr, gzr, g0r = lb.gr
    gxr[...] = gx[r[0].start:r[0].stop - 1, r[1], r[2]]
    gyr[...] = gy[r[0], r[1].start:r[1].stop - 1, r[2]]
    gzr[...] = gz[r[0], r[1], r[2].start:r[2].stop - 1]
    g0r[...] = g0[r]
    be = np.array(b[r])               # from the electrodes and the grid's own Dirichlet faces
    bs = np.zeros_like(be)            # from the shell, at its present potential
    p2 = phi3[in3]
    for ax, lo, face, sh in lb.shell:
        sl_g = list(r)
        sl_g[ax] = face
        sl_e = [slice(None)] * 3
        sl_e[ax] = 0 if lo else -1
        sl_p = list(r)
        sl_p[ax] = sh
        gf = (gx, gy, gz)[ax][tuple(sl_g)]
        g0r[tuple(sl_e)] += gf
        bs[tuple(sl_e)] += gf.astype(np.float64) * p2[tuple(sl_p)]
    act, on = lb.act, lb.on
    if lb.mg is None:
        lb.mg = GeometricMultigrid(gxr, gyr, gzr, g0r, act)
    else:
        lb.mg.refresh()

    def matvec(v):
        return network_matvec(gxr, gyr, gzr, g0r, act, v)

    x1, its = pcg(matvec, be + bs, phi3[r3] * act, lb.mg.precondition, rtol=rtol, maxiter=maxiter)
    x1 = np.where(on, x1, phi3[r3])
    alpha = 1.0
    x = x1
    bs_norm = float(np.sqrt(_dot(bs.ravel(), bs.ravel())))
    if rescale and bs_norm > 0:
        # y: the part of x1 due to the shell (electrodes at 0), x(α) = x1 + (α − 1) y. Its error
        # enters through (α − 1) ≈ a few %: the same absolute tolerance as x1's, ten times looser
        b1 = float(np.sqrt(_dot(b1v := (be + bs).ravel(), b1v)))
        y0 = lb.y if lb.y is not None else np.zeros_like(be)
        y, its2 = pcg(matvec, bs, y0, lb.mg.precondition, rtol=min(0.1, 10.0 * rtol * b1 / bs_norm),
                      maxiter=maxiter)
        its += its2
        y = lb.y = np.where(on, y, 0.0)
        # E(α) = E_S2(α) + α² e_out is quadratic in α: from three values of E_S2
        a0, a1, a2 = (float(dissipation(_fill(phi3, r3, x1 + (al - 1.0) * y, al)).sum()) for al in (0.0, 1.0, 2.0))
        c2 = 0.5 * (a2 - 2.0 * a1 + a0) + e_out
        c1 = a1 - a0 - 0.5 * (a2 - 2.0 * a1 + a0)
        if c2 > 0:
            alpha = -c1 / (2.0 * c2)
            x = x1 + (alpha - 1.0) * y
    u = _fill(phi3, r3, x, alpha)
    q = np.array(dissipation(u, keep))
    energy = float(dissipation(u).sum()) + alpha * alpha * e_out
    # the stored potential for the new scale phi_scale × alpha
    pr = phi[R]
    pr[on] = x[on] / (phi_scale * alpha)
    return lb.S2, q, energy, alpha, its
