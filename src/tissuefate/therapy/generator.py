"""RF generator control: constant power and impedance control with roll-off pulsing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..tissue.properties import Param

__all__ = ["RFGenerator", "GENERATOR_DEFAULTS"]

#: Behaviour of a commercial impedance-controlled RF generator (Cool-tip-like). literature.md has
#: no rows for these; they are estimates of typical published generator behaviour [E].
GENERATOR_DEFAULTS = {
    "max_power_W": Param(200.0, "W", "typical maximum of clinical RF generators", "E"),
    "max_current_A": Param(2.0, "A", "typical current limit of clinical RF generators", "E"),
    "impedance_rise_ohm": Param(
        10.0, "ohm", "impedance-control generators cut power when Z rises ~10 ohm above baseline", "E"
    ),
    "pulse_off_s": Param(15.0, "s", "typical off time after a roll-off", "E"),
    "restart_fraction": Param(0.9, "1", "power level after a roll-off, as a fraction of the level before it", "E"),
    "ramp_W_per_s": Param(
        2.0,
        "W/s",
        "power ramp of impedance-control mode",
        "E",
        "about 100 W/min; the zone size is sensitive to it (see docs/validation.md)",
    ),
}


@dataclass
class RFGenerator:
    """A generator that turns the tissue's impedance into an applied voltage each step.

    Parameters
    ----------
    mode : {"power", "impedance"}
        ``power``: hold ``power_W`` (within voltage/current limits). ``impedance``: ramp up to
        ``power_W`` at ``ramp_W_per_s``; whenever the impedance exceeds the baseline (the impedance
        measured when power is first applied) by ``impedance_rise_ohm``, switch off for
        ``pulse_off_s`` (roll-off), then resume at ``restart_fraction`` (0.9) of the power
        reached before the roll-off.
    power_W : float
        Set power (power mode) or maximum power (impedance mode).

    Notes
    -----
    With the tissue's impedance Z at unit voltage known, the delivered power is P = V²/Z and the
    current I = V/Z; the generator picks V = √(P Z), limited by ``max_current_A``.
    """

    mode: str = "impedance"
    power_W: float = GENERATOR_DEFAULTS["max_power_W"].value
    ramp_W_per_s: float = GENERATOR_DEFAULTS["ramp_W_per_s"].value
    impedance_rise_ohm: float = GENERATOR_DEFAULTS["impedance_rise_ohm"].value
    pulse_off_s: float = GENERATOR_DEFAULTS["pulse_off_s"].value
    restart_fraction: float = GENERATOR_DEFAULTS["restart_fraction"].value
    max_current_A: float = GENERATOR_DEFAULTS["max_current_A"].value
    start_power_W: float = 20.0
    # state
    _baseline_ohm: float = field(default=np.inf, init=False)
    _off_until_s: float = field(default=-1.0, init=False)
    _level_W: float = field(default=0.0, init=False)
    _step_start: tuple | None = field(default=None, init=False)
    rolloffs: int = field(default=0, init=False)

    def __post_init__(self):
        if self.mode not in ("power", "impedance"):
            raise ConfigError(f"protocol.control = {self.mode!r}: must be 'power' or 'impedance'")
        if not 0 < self.power_W <= 400:
            raise ConfigError(f"protocol.power_W = {self.power_W}: must be > 0 and <= 400 W")
        if not 0 < self.restart_fraction <= 1:
            raise ConfigError(f"restart_fraction = {self.restart_fraction}: must be in (0, 1]")
        self._level_W = self.power_W if self.mode == "power" else min(self.start_power_W, self.power_W)

    def is_on(self, t_s: float) -> bool:
        """Whether the generator delivers power at ``t_s`` (not in a roll-off pause)."""
        return t_s >= self._off_until_s

    def is_on_during(self, t_s: float, dt_s: float) -> bool:
        """Whether the generator delivers power at some time of the step [t, t + dt]."""
        return t_s + dt_s > self._off_until_s

    def voltage_V(self, t_s: float, dt_s: float, impedance_ohm: float) -> float:
        """Applied RMS voltage for the step starting at ``t_s`` given the tissue impedance.

        When a roll-off pause ends inside the step, the voltage whose power V²/Z is the mean over
        the step (the set voltage for the powered part, zero before it).
        """
        z = float(impedance_ohm)
        if not np.isfinite(z) or z <= 0:
            return 0.0
        on = 1.0  # the fraction of the step after a roll-off pause has ended
        if self.mode == "impedance":
            if t_s + dt_s <= self._off_until_s:
                return 0.0
            if t_s < self._off_until_s:
                # the pause ends inside this step: deliver the mean power over the step (an
                # explicit step sees only the mean source); at ≈ 2-s steps waiting for the next
                # step lost up to a step of each of the ≈ 35 on-phases of a 12-min session
                on = (t_s + dt_s - self._off_until_s) / dt_s
            if not np.isfinite(self._baseline_ohm):
                self._baseline_ohm = z  # the impedance measured when power is first applied
            if z > self.rolloff_threshold_ohm:
                self._roll_off(t_s)
                return 0.0
            # the step delivers the mean of the ramp over its powered part (the power at the step's
            # end overstated a 2 W/s ramp by ≈ 2 W at 1-s steps: first order in dt)
            p_step = self._ramp_mean_W(dt_s * on)
            self._step_start = (self._level_W, 1.0 - on)  # for a roll-off located inside the step
            self._level_W = min(self._level_W + self.ramp_W_per_s * dt_s * on, self.power_W)
        else:
            p_step = self._level_W
        v = min(np.sqrt(p_step * z), self.max_current_A * z)
        return float(v * np.sqrt(on))

    def _ramp_mean_W(self, tau_s: float) -> float:
        """Mean over the next ``tau_s`` of the power ramping from the present level at
        ``ramp_W_per_s`` up to ``power_W``."""
        p0, pmax, r = self._level_W, self.power_W, self.ramp_W_per_s
        if tau_s <= 0 or p0 >= pmax or r <= 0:
            return min(p0, pmax)
        tc = (pmax - p0) / r  # when the ramp reaches the maximum
        if tc >= tau_s:
            return p0 + 0.5 * r * tau_s
        return (tc * 0.5 * (p0 + pmax) + (tau_s - tc) * pmax) / tau_s

    @property
    def rolloff_threshold_ohm(self) -> float:
        """Impedance [Ω] above which impedance control rolls off (inf before power is first applied)."""
        return self._baseline_ohm + self.impedance_rise_ohm

    def _roll_off(self, t_s: float) -> None:
        self.rolloffs += 1
        self._off_until_s = t_s + self.pulse_off_s
        self._level_W = max(self.restart_fraction * self._level_W, self.start_power_W)

    def roll_off_within(self, t_s: float, dt_s: float, fractions, impedances_ohm) -> float:
        """Locate a roll-off inside the step [t, t + dt]; return the fraction θ of it that was powered.

        ``impedances_ohm[j]`` is the impedance from ``fractions[j]`` of the step on (fractions
        ascending in [0, 1]); before the first fraction the impedance is the one the step was
        powered at. With impedance control on, the first entry above the roll-off threshold places
        the roll-off at t + θ dt, θ = its fraction: the roll-off is registered there (the pause runs
        from it) and θ is returned. Otherwise 1.0 is returned and nothing changes.

        Without this the roll-off is seen at the next step, which at the explicit step of 1-mm
        grids (≈ 0.9 s) lets each of the ≈ 35 on-phases of a 12-min session run up to a step too
        long (docs/model.md, "Time step and the generator").
        """
        if self.mode != "impedance" or not self.is_on(t_s) or not np.isfinite(self._baseline_ohm):
            return 1.0
        fr = np.asarray(fractions, dtype=np.float64).ravel()
        z = np.asarray(impedances_ohm, dtype=np.float64).ravel()
        if fr.shape != z.shape:
            raise ValueError(f"fractions ({fr.size}) and impedances_ohm ({z.size}) differ in length")
        if fr.size and (np.any(np.diff(fr) < 0) or fr[0] < 0 or fr[-1] > 1):
            raise ValueError("fractions must ascend within [0, 1]")
        over = np.flatnonzero(z > self.rolloff_threshold_ohm)
        if over.size == 0:
            return 1.0
        theta = float(fr[over[0]])
        if self._step_start is not None:  # the level the ramp had reached at the roll-off
            level0, off = self._step_start
            self._level_W = min(level0 + self.ramp_W_per_s * max(theta - off, 0.0) * dt_s, self.power_W)
        self._roll_off(t_s + theta * dt_s)
        return theta
