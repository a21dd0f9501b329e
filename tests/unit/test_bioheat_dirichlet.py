"""Dirichlet voxels (vessels, cooled electrodes) do not limit the explicit step, and stepping at
the limit next to a highly conductive Dirichlet voxel keeps the maximum principle."""

import numpy as np

from tissuefate.grid import Grid
from tissuefate.physics.bioheat import BioheatModel
from tissuefate.tissue.maps import ThermalMaps


def test_dirichlet_voxel_conductivity_does_not_limit_dt():
    g = Grid.cube(12, 1e-3)
    k = np.full(g.shape, 0.5)
    maps = ThermalMaps(k.copy(), np.full(g.shape, 1 / 3.8e6), np.zeros(g.shape))
    free = BioheatModel(g, maps, arterial_K=310.15, dtype=np.float64)
    mask = np.zeros(g.shape, bool)
    mask[6, 6, 6] = True
    k2 = k.copy()
    k2[mask] = 1.5  # electrode voxel: cold surface on its faces
    maps2 = ThermalMaps(k2, maps.inv_rho_c, maps.perfusion_coeff_per_s)
    held = BioheatModel(g, maps2, arterial_K=310.15, dirichlet_mask=mask, dirichlet_K=283.15, dtype=np.float64)
    # only the neighbours' rates grow (one face of six doubles): dt shrinks by 1/7, not by half
    assert held.dt_max_s > 0.8 * free.dt_max_s
    rng = np.random.default_rng(0)
    T = held.initial(310.15)
    T += rng.uniform(0, 5, g.shape)
    T[mask] = 283.15
    lo, hi = T.min(), T.max()
    for _ in range(50):
        T = held.step(T, None, held.dt_max_s)
    assert T.min() >= lo - 1e-9 and T.max() <= hi + 1e-9
