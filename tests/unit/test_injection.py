"""Unit tier of chemical injection: validation messages, presets, kill laws, geometry, tables."""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.errors import ConfigError
from tissuefate.grid import Grid
from tissuefate.physics.darcy import DarcySolver
from tissuefate.physics.injection import (
    Agent,
    InjectionModel,
    InjectionNeedle,
    InjectionProtocol,
    ct_log_kill_rate_per_s,
    react_with_demand,
)
from tissuefate.tissue.labels import Label
from tissuefate.tissue.properties import AGENTS, INJECTION, all_params
from tissuefate.tissue.state import TissueState


def _liver(n=12):
    g = Grid.cube(n, 1e-3)
    return g, np.full(g.shape, Label.PARENCHYMA, np.uint8)


def _model(**kw):
    g, lab = _liver()
    kw.setdefault("agent", Agent.ethanol())
    kw.setdefault("needles", [InjectionNeedle((0, 0, 0))])
    return InjectionModel(g, kw.pop("label", lab), **kw)


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: InjectionProtocol(-3e-6, 1e-7), ["injection.volume_m3", "-3e-06 m^3", "> 0", "Did you mean 3e-06"]),
        (lambda: InjectionProtocol(3e-6, -1e-7), ["injection.rate_m3_per_s", "-1e-07", "m^3/s"]),
        (lambda: InjectionProtocol(3e-6, 0.0), ["injection.rate_m3_per_s", "> 0"]),
        (lambda: InjectionProtocol(3e-6, 1e-7, spread_s=-1), ["injection.spread_s", ">= 0"]),
        (lambda: InjectionProtocol(1e-3, 1e-7), ["injection.volume_m3", "100 mL"]),
        (lambda: InjectionProtocol.from_mL(-5, 0.1), ["injection.volume_mL", "Did you mean 5"]),
        (lambda: Agent.ethanol(1.2), ["agent.concentration_fraction", "1.2", "<= 1"]),
        (lambda: Agent.ethanol(-0.5), ["agent.concentration_fraction"]),
        (lambda: Agent.acetic_acid(0), ["agent.fraction", "> 0"]),
        (lambda: Agent.oxidant(500.0), ["agent.concentration_mol_per_m3", "500", "solubility"]),
        (lambda: Agent.oxidant(-1.0), ["agent.concentration_mol_per_m3", "mol/m^3"]),
        (lambda: Agent.from_name("bleach"), ["agent = 'bleach'", "ethanol", "oxidant"]),
        (lambda: InjectionNeedle((0, 0, 0), (0, 0, 0)), ["needle.direction"]),
        (lambda: InjectionNeedle((0, 0, 0), gauge=19), ["needle.gauge", "21"]),
        (lambda: _model(needles=[InjectionNeedle((0.05, 0, 0))]), ["needles[0].tip_mm", "50.0", "outside the grid"]),
        (lambda: _model(needles=[]), ["needles", "at least one"]),
        (lambda: _model(vessel_leak_factor=1.5), ["vessel_leak_factor", "1.5", "<= 1"]),
        (lambda: _model(transport_demand_fraction=-0.1), ["transport_demand_fraction"]),
        (lambda: _model(lethal_demand_fraction_tumour=0.0), ["lethal_demand_fraction_tumour", "> 0"]),
        (lambda: _model(overrides={"crack_presure_Pa": 1e4}), ["crack_presure_Pa", "unknown", "crack_pressure_Pa"]),
        (lambda: _model(label=np.zeros((3, 3, 3), np.uint8)), ["label.shape"]),
        (lambda: _model(perfusion_per_s=-1.0), ["perfusion_per_s"]),
        (lambda: _model(agent="ethanol"), ["agent", "Agent.ethanol()"]),
        (lambda: _model(backend="cupy"), ["backend", "numba"]),
        (lambda: _model().run("5 mL"), ["protocol", "InjectionProtocol"]),
    ],
)
def test_bad_input_raises_config_error_naming_field_and_range(call, words):
    with pytest.raises(ConfigError) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_tip_in_outside_or_vessel_voxel_is_rejected():
    g, lab = _liver()
    lab[6, 6, 6] = Label.LARGE_VESSEL
    with pytest.raises(ConfigError, match="LARGE_VESSEL"):
        _model(label=lab, needles=[InjectionNeedle(g.world_of((6, 6, 6)))])
    lab[:] = Label.OUTSIDE
    with pytest.raises(ConfigError, match="no tissue"):
        _model(label=lab)


def test_two_tips_in_one_voxel_are_rejected():
    with pytest.raises(ConfigError, match="shares voxel"):
        _model(needles=[InjectionNeedle((0, 0, 0)), InjectionNeedle((1e-4, 0, 0))])


# ---------------------------------------------------------------------------------------------
# presets, protocol, kill laws


def test_agent_presets_take_their_numbers_from_the_tables():
    e = Agent.ethanol()
    assert e.concentration_mol_per_m3 == pytest.approx(0.95 * 789.0 / 0.04607)
    assert e.diffusion_m2_per_s == AGENTS["ethanol"]["diffusion_m2_per_s"].value == 5.9e-10
    a = Agent.acetic_acid()
    assert a.concentration_mol_per_m3 == pytest.approx(0.5 * 1049.0 / 0.06005)
    o = Agent.oxidant()
    assert o.kill_law == "stoichiometric"
    assert o.concentration_mol_per_m3 < AGENTS["oxidant"]["solubility_mol_per_m3"].value
    assert o.diffusion_m2_per_s == 1.5e-9
    assert Agent.from_name("acetic_acid", fraction=0.3).concentration_mol_per_m3 == pytest.approx(
        0.3 * a.pure_concentration_mol_per_m3)


def test_protocol_from_mL():
    p = InjectionProtocol.from_mL(5.0, 0.1, spread_min=60)
    assert p.volume_m3 == pytest.approx(5e-6)
    assert p.injection_s == pytest.approx(50.0)
    assert p.spread_s == 3600.0


def test_concentration_time_law():
    a = Agent.ethanol()
    phi = 0.3
    c_pure = a.pure_concentration_mol_per_m3
    # below the threshold: no kill; above: k (x − θ)
    c = np.array([0.1, 0.2, 0.6]) * phi * c_pure
    r = ct_log_kill_rate_per_s(c, a, phi)
    assert r[0] == 0.0 and r[1] == pytest.approx(0.0, abs=1e-15)
    assert r[2] == pytest.approx(a.kill_rate_per_s * (0.6 - a.kill_threshold))


def test_react_with_demand_is_stoichiometric_and_conservative():
    rng = np.random.default_rng(0)
    c = rng.random(100) * 10
    used = rng.random(100) * 5
    D = np.full(100, 6.0)
    before = c.sum() + used.sum()
    react_with_demand(c, used, D)
    assert c.sum() + used.sum() == pytest.approx(before)
    assert np.all(used <= D + 1e-12) and np.all(c >= 0)
    assert np.all((c == 0) | np.isclose(used, D))  # either the agent or the demand is exhausted


# ---------------------------------------------------------------------------------------------
# geometry and maps


def test_tract_runs_from_the_tip_to_the_organ_surface_face_connected():
    g = Grid.cube(20, 1e-3)
    lab = np.full(g.shape, Label.PARENCHYMA, np.uint8)
    lab[:, :, 15:] = Label.OUTSIDE
    m = InjectionModel(g, lab, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0), (0.3, 0.2, 1.0))])
    t = m.tract
    assert t.any() and not (t & m.source_mask).any() and not (t & (lab == Label.OUTSIDE)).any()
    idx = np.argwhere(t)
    assert idx[:, 2].max() == 14  # reaches the last organ voxel below the surface
    # face connected: every tract voxel but the ends has a face neighbour in the tract or the tip
    net = t | m.source_mask
    for i, j, k in idx:
        nb = sum(net[i + di, j + dj, k + dk] for di, dj, dk in
                 ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))
                 if 0 <= i + di < 20 and 0 <= j + dj < 20 and 0 <= k + dk < 20)
        assert nb >= 1
    # the tract's conductivity carries the channel conductance
    h2 = 1e-6
    assert m.conductivity_m2_per_Pa_s[t].min() == pytest.approx(
        INJECTION["conductivity_parenchyma_m2_per_Pa_s"].value + INJECTION["tract_conductance_m4_per_Pa_s"].value / h2)


def test_capsule_scar_and_fixed_lower_the_conductivity():
    g, lab = _liver()
    lab[0] = Label.CAPSULE
    scar = np.zeros(g.shape)
    scar[1] = 1.0
    fixed = np.zeros(g.shape)
    fixed[2] = 1.0
    m = _model(label=lab, scar=scar, fixed=fixed)
    K0 = INJECTION["conductivity_parenchyma_m2_per_Pa_s"].value
    K = m.conductivity_m2_per_Pa_s
    assert K[0, 0, 0] == pytest.approx(K0 * INJECTION["capsule_factor"].value)
    assert K[1, 0, 0] == pytest.approx(K0 * INJECTION["scar_factor"].value)
    assert K[2, 0, 0] == pytest.approx(K0 * INJECTION["fixed_factor"].value)
    assert K[5, 0, 0] == pytest.approx(K0)


def test_from_state_uses_scar_fixed_and_perfusion():
    g, lab = _liver()
    st = TissueState.from_labels(g, lab)
    st.scar[:] = 0.5
    st.debris[:] = 1.0
    st.fixed[:] = 1.0
    m = InjectionModel.from_state(st, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))])
    K0 = INJECTION["conductivity_parenchyma_m2_per_Pa_s"].value
    expected = K0 * (0.5 + 0.5 * INJECTION["scar_factor"].value) * INJECTION["fixed_factor"].value
    assert m.conductivity_m2_per_Pa_s[0, 0, 0] == pytest.approx(expected)
    assert m._kw0[0, 0, 0] > 0  # perfusion from the species table
    ex_vivo = InjectionModel.from_state(st, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))],
                                        in_vivo=False)
    assert ex_vivo._kw0.max() == 0.0


def test_scenario_perfusion_reaches_the_washout():
    """``tissue.perfusion`` of a scenario sets the injection's washout (the model once rebuilt the
    species table and ignored it: trials and sensitivity analyses that varied it saw no effect)."""
    from tissuefate.config.build import scenario_table
    from tissuefate.config.scenario import scenario_from_dict
    from tissuefate.tissue.maps import perfusion_map

    g, lab = _liver()
    st = TissueState.from_labels(g, lab)
    base = {"name": "pei", "modality": "injection", "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
            "applicator": {"type": "injection_needles"}, "injection": {"agent": "ethanol", "volume_mL": 1}}
    rates = []
    for w in (None, 1.75e-2):
        scn = scenario_from_dict({**base, "tissue": {} if w is None else {"perfusion": w}})
        table = scenario_table(scn)
        m = InjectionModel.from_state(st, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))],
                                      table=table)
        np.testing.assert_allclose(m._kw0, perfusion_map(st, table) / INJECTION["washout_partition"].value)
        rates.append(float(m._kw0[0, 0, 0]))
    assert rates[1] == pytest.approx(1.75e-2 / INJECTION["washout_partition"].value)
    assert rates[0] != pytest.approx(rates[1])


def test_darcy_solver_conserves_and_orders_pressure():
    g = Grid.cube(10, 1e-3)
    fixed = np.zeros(g.shape, bool)
    fixed[:, :, -1] = True
    q = np.zeros(g.shape)
    q[5, 5, 3] = 1e-9
    flow = DarcySolver(g, fixed).solve(np.full(g.shape, 5e-11), q)
    assert flow.pressure_Pa.argmax() == np.ravel_multi_index((5, 5, 3), g.shape)
    assert np.all(flow.pressure_Pa[fixed] == 0)
    assert flow.sink_m3_per_s.sum() == pytest.approx(1e-9, rel=1e-5)
    assert flow.sink_surface_m3_per_s.sum() > 0 and flow.sink_box_m3_per_s.sum() > 0
    assert np.all(flow.outflow_m3_per_s() >= 0)


def test_cracking_raises_conductivity_where_pressure_exceeds_the_crack_pressure():
    g, lab = _liver(16)
    m = InjectionModel(g, lab, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))])
    slow = m.solve_pressure(1e-10)
    fast = m.solve_pressure(5e-7)
    assert not slow.cracked.any()
    assert fast.cracked.any() and fast.cracked[m.source_mask].all()
    K0 = m.conductivity_m2_per_Pa_s
    assert np.allclose(fast.conductivity_m2_per_Pa_s[fast.cracked],
                       K0[fast.cracked] * INJECTION["crack_factor"].value)
    off = InjectionModel(g, lab, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))], cracking=False)
    assert not off.solve_pressure(5e-7).cracked.any()


# ---------------------------------------------------------------------------------------------
# result and tables


def test_result_summary_and_shape_metrics():
    r = _model(backend="numpy").run(InjectionProtocol(0.1e-6, 0.02e-6, spread_s=60.0))
    s = r.summary()
    assert s["agent"] == "ethanol"
    assert s["delivered_volume_m3"] == pytest.approx(1e-7)
    assert s["killed_volume_m3"] > 0 and s["distribution_volume_m3"] > 0
    sm = r.shape_metrics()
    assert 0 < sm["sphericity"] <= 1 and sm["max_radius_m"] > 0
    assert r.survival.min() < 0.01 and r.survival.max() == 1.0
    assert np.all(r.concentration_peak_mol_per_m3 >= r.concentration_mol_per_m3)


def test_injection_and_agent_parameters_are_sourced_and_tagged():
    names = dict(all_params())
    assert "injection.crack_pressure_Pa" in names and "agent.oxidant.demand_mol_per_kg" in names
    for group in (INJECTION, *AGENTS.values()):
        for p in group.values():
            assert p.tag in {"V", "R", "C", "E", "ABSENT"} and p.source and p.unit
    # literature.md has no permeability, crack pressure or kill rate: estimates only
    for k in ("conductivity_parenchyma_m2_per_Pa_s", "crack_pressure_Pa", "crack_factor"):
        assert INJECTION[k].tag == "E"
    assert AGENTS["ethanol"]["kill_rate_per_s"].tag == "E"
    assert AGENTS["oxidant"]["demand_mol_per_kg"].tag == "E"
    assert AGENTS["oxidant"]["diffusion_m2_per_s"].tag == "E"


def test_two_needles_share_the_rate_and_progress_is_reported():
    g, lab = _liver(15)  # odd: voxel centres on whole millimetres, the tips mirror each other in x
    needles = [InjectionNeedle((-0.003, 0, 0)), InjectionNeedle((0.003, 0, 0))]
    m = InjectionModel(g, lab, agent=Agent.acetic_acid(), needles=needles)
    assert m.source_mask.sum() == 2
    seen = []
    r = m.run(InjectionProtocol(0.2e-6, 0.05e-6, spread_s=120.0), progress=lambda f, msg: seen.append((f, msg)))
    assert seen[-1][0] == pytest.approx(1.0) and "spreading" in seen[-1][1]
    assert all(b >= a for (a, _), (b, _) in zip(seen, seen[1:], strict=False))
    assert abs(r.balance["fluid"]["relative_error"]) < 1e-9
    # symmetric placement, symmetric result
    np.testing.assert_allclose(r.fluid_fraction, r.fluid_fraction[::-1], rtol=1e-6, atol=1e-12)


def test_anisotropic_voxels_and_a_tip_on_the_box_face_keep_the_balance():
    g = Grid((14, 12, 8), (1e-3, 1e-3, 2e-3))
    lab = np.full(g.shape, Label.PARENCHYMA, np.uint8)
    tip = g.world_of((7, 6, 7))  # top layer: the tract starts on the box face
    for agent in (Agent.ethanol(), Agent.oxidant()):
        r = InjectionModel(g, lab, agent=agent, needles=[InjectionNeedle(tip, (0, 0, 1))],
                           perfusion_per_s=3.6e-3).run(InjectionProtocol(0.3e-6, 0.1e-6, spread_s=300.0))
        for kind in ("fluid", "agent"):
            assert abs(r.balance[kind]["relative_error"]) < 1e-9
        assert r.balance["fluid"]["leaked"]["boundary"] > 0


def test_session_washout_follows_the_scenario_perfusion():
    from tissuefate.api import simulate
    from tissuefate.config.scenario import scenario_from_dict

    washed = []
    for w in (None, 5e-2):
        scn = scenario_from_dict({
            "name": "pei", "modality": "injection", "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
            "grid": {"roi_shape": [24, 24, 24]}, "tissue": {} if w is None else {"perfusion": w},
            "applicator": {"type": "injection_needles"},
            "injection": {"agent": "ethanol", "volume_mL": 0.2, "rate_mL_per_s": 0.05, "spread_min": 2}})
        washed.append(simulate(scn).metrics["details"]["washed_out_mL"])
    assert washed[1] > 2 * washed[0]  # 0.19 vs 0.06 mL of 0.2 mL
