"""Scenario, course and trial files: pydantic models, TOML loading, JSON schema."""

from .scenario import Scenario, load_scenario, scenario_from_dict

__all__ = ["Scenario", "load_scenario", "scenario_from_dict"]
