"""Student networks, looked up by name. One import line per network registers it."""
from . import mlp  # noqa: F401
from .registry import (
    SHARED_PARAMS,
    available_students,
    create_student,
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
    "parse_student",
    "register_student",
    "resolve_student_params",
    "student_class",
    "student_hyperparameters",
]
