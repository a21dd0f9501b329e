"""Result files: metrics.json, NetCDF fields, atomic result folders (sessions and courses)."""

from .course_output import course_states_dataset, write_course_outputs
from .output import (
    OutputExistsError,
    atomic_output_dir,
    fields_dataset,
    to_jsonable,
    write_fields_netcdf,
    write_metrics_json,
    write_session_outputs,
)

__all__ = [
    "OutputExistsError",
    "atomic_output_dir",
    "to_jsonable",
    "write_metrics_json",
    "fields_dataset",
    "write_fields_netcdf",
    "write_session_outputs",
    "course_states_dataset",
    "write_course_outputs",
]
