"""Student networks, looked up by name. One import line per network registers it."""
from . import autoint  # noqa: F401
from . import dcnv2  # noqa: F401
from . import deepfm  # noqa: F401
from . import dhen  # noqa: F401
from . import din  # noqa: F401
from . import ecn  # noqa: F401
from . import final  # noqa: F401
from . import finalmlp  # noqa: F401
from . import interformer  # noqa: F401
from . import mlp  # noqa: F401
from . import pnn  # noqa: F401
from . import tf4ctr_branch  # noqa: F401
from . import wide_deep  # noqa: F401
from . import xdeepfm  # noqa: F401
from .registry import (
    SHARED_PARAMS,
    available_students,
    create_student,
    explicit_spec,
    parse_student,
    register_student,
    resolve_student_params,
    student_class,
    student_hyperparameters,
)

__all__ = [
    "SHARED_PARAMS",
    "available_students",
    "create_student",
    "explicit_spec",
    "parse_student",
    "register_student",
    "resolve_student_params",
    "student_class",
    "student_hyperparameters",
]
