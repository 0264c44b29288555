"""One registry of named networks that read the shared field embedding and return a logit.

A network is a ``torch.nn.Module`` whose constructor takes ``num_fields`` and
``embedding_dim`` first, then its own keyword hyper-parameters, and whose
``forward(E)`` maps the field embedding ``E`` (B, F, D) to logits (B,).
Adding a network is one file with ``@register_student("name")`` on the class
and one import line in ``skctr/nn/students/__init__.py``.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping

from torch import nn

_REGISTRY: dict[str, type[nn.Module]] = {}

#: Hyper-parameters an ensemble passes to every student that accepts them.
SHARED_PARAMS = ("hidden_units", "dropout", "batch_norm")


def register_student(name: str):
    """Class decorator adding a network to the registry under ``name``."""

    def decorate(cls):
        if name in _REGISTRY:
            raise ValueError(f"A student named {name!r} is already registered ({_REGISTRY[name].__name__}).")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return decorate


def available_students() -> list[str]:
    """Names accepted wherever a student is requested."""
    return sorted(_REGISTRY)


def student_class(name: str) -> type[nn.Module]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown student {name!r}; available: {available_students()}.") from None


def student_hyperparameters(name: str) -> dict:
    """Keyword hyper-parameters of a registered network with their defaults."""
    signature = inspect.signature(student_class(name).__init__)
    return {
        p.name: p.default
        for p in list(signature.parameters.values())[3:]
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def parse_student(spec, parameter: str = "students") -> tuple[str, dict]:
    """Normalise ``"name"`` or ``("name", {params})`` and check the names of the params."""
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], Mapping):
        name, params = spec[0], dict(spec[1])
    else:
        raise ValueError(
            f"{parameter}: each student is a registry name or a (name, params_dict) pair, got {spec!r}."
        )
    if name not in _REGISTRY:
        raise ValueError(f"{parameter}: Unknown student {name!r}; available: {available_students()}.")
    known = student_hyperparameters(name)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{parameter}: student {name!r} has no parameter(s) {unknown}; it accepts {sorted(known)}.")
    return name, params


def resolve_student_params(spec, shared: Mapping, parameter: str = "students") -> tuple[str, dict]:
    """Full hyper-parameters of a student: its own params over the shared ones it accepts."""
    name, params = parse_student(spec, parameter)
    known = student_hyperparameters(name)
    resolved = {key: shared[key] for key in SHARED_PARAMS if key in known and key in shared}
    resolved.update(params)
    return name, resolved


def create_student(spec, num_fields: int, embedding_dim: int, shared: Mapping | None = None) -> nn.Module:
    """Build a student from ``"name"`` or ``("name", params)``; see :func:`resolve_student_params`."""
    name, params = resolve_student_params(spec, shared or {})
    module = student_class(name)(num_fields, embedding_dim, **params)
    module.student_params = params
    return module
