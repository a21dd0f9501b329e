"""tissuefate: local tumour therapies across repeated sessions.

Research software, not a medical device; it gives no treatment guidance.
"""

from .errors import ConfigError, GeometryError, NumericalError, ResourceError, TissuefateError
from .grid import Grid

__version__ = "0.1.0"

__all__ = [
    "Grid",
    "TissuefateError",
    "ConfigError",
    "GeometryError",
    "NumericalError",
    "ResourceError",
    "__version__",
]
