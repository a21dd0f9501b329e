"""Virtual trials: cohorts of simulated patients, every strategy on the same patients (paired),
run on a local or remote Dask cluster, resumable (docs/trials.md).

Importing this package starts nothing and imports neither Dask nor pyarrow; :func:`run_trial` does.
"""

from .cohort import Case, Patient, Tumour, case_scenarios, sample_patient
from .run import OUTCOME_COLUMNS, TrialRun, read_outcomes, run_case, run_trial
from .spec import TrialSpec, load_trial, trial_from_dict

__all__ = ["TrialSpec", "load_trial", "trial_from_dict", "Patient", "Tumour", "Case", "sample_patient",
           "case_scenarios", "run_case", "run_trial", "TrialRun", "read_outcomes", "OUTCOME_COLUMNS"]
