"""The point-implicit sub-grid cold wall of cooled RF electrodes (therapy.session._ColdWall)."""

import numpy as np
import pytest

from tissuefate.grid import Grid
from tissuefate.therapy.session import _ColdWall


def test_cold_wall_links_and_backward_euler():
    g = Grid((5, 5, 5), (1e-3, 1e-3, 2e-3))
    e = np.zeros(g.shape, bool)
    e[2, 2, 2] = True
    w = _ColdWall.build(e, g, 1.0, 283.15)
    G = np.zeros(g.shape)
    G.reshape(-1)[w.index] = w.conductance_W_per_m3K
    assert w.index.size == 6 and G[2, 2, 2] == 0.0
    assert G[1, 2, 2] == pytest.approx(1e6) and G[2, 2, 3] == pytest.approx(0.25e6)  # g / h² per face
    T = np.full(g.shape, 310.15)
    irc = np.full(g.shape, 2.5e-7)
    dt = 1.0
    w.apply(T, irc, dt)
    a = dt * 2.5e-7 * 1e6
    assert T[1, 2, 2] == pytest.approx((310.15 + a * 283.15) / (1 + a))
    assert T[0, 0, 0] == 310.15  # untouched away from the wall
    for _ in range(2000):  # unconditionally stable: relaxes to the coolant, never past it
        w.apply(T, irc, 50.0)
    assert T[1, 2, 2] == pytest.approx(283.15) and T.min() >= 283.15 - 1e-9
