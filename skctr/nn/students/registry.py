"""One registry of named networks that read the shared field embedding and return a logit.

A network is a :class:`~skctr.nn.students.base.StudentNetwork`: its
constructor takes ``num_fields`` and ``embedding_dim`` first, then its own
keyword-only hyper-parameters, and ``forward(E)`` maps the field embedding
``E`` (B, F, D) to logits (B,); ``forward_hidden`` also gives the hidden
vector its readout reads. Adding a network is one file with
``@register_student("name")`` on the class and one import line in
``skctr/nn/students/__init__.py``.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping

from .base import StudentNetwork

_REGISTRY: dict[str, type[StudentNetwork]] = {}
#: Networks the library builds for itself (an extracted ensemble member); not offered as students.
_INTERNAL: set[str] = set()

#: Hyper-parameters an ensemble passes to every student that accepts them.
SHARED_PARAMS = ("hidden_units", "dropout", "batch_norm")


def register_student(name: str, *, public: bool = True):
    """Class decorator adding a network to the registry under ``name``.

    ``public=False`` registers a network the library builds for itself: it is
    rebuilt from its explicit spec (an extracted member served alone) but not
    listed by :func:`available_students` nor accepted as a user's student.
    """

    def decorate(cls):
        if not issubclass(cls, StudentNetwork):
            raise TypeError(f"{cls.__name__} must subclass StudentNetwork to be registered as {name!r}.")
        if name in _REGISTRY:
            raise ValueError(f"A student named {name!r} is already registered ({_REGISTRY[name].__name__}).")
        _REGISTRY[name] = cls
        if not public:
            _INTERNAL.add(name)
        cls.registry_name = name
        return cls

    return decorate


def available_students() -> list[str]:
    """Names accepted wherever a student is requested."""
    return sorted(set(_REGISTRY) - _INTERNAL)


def student_class(name: str) -> type[StudentNetwork]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown student {name!r}; available: {available_students()}.") from None


def student_hyperparameters(name: str) -> dict:
    """Keyword hyper-parameters of a registered network with their defaults."""
    signature = inspect.signature(student_class(name).__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY}


def parse_student(spec, parameter: str = "students", *, internal: bool = False) -> tuple[str, dict]:
    """Normalise ``"name"`` or ``("name", {params})`` and check the names of the params.

    ``internal=True`` also accepts the networks registered with ``public=False``.
    """
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], Mapping):
        name, params = spec[0], dict(spec[1])
    else:
        raise ValueError(
            f"{parameter}: each student is a registry name or a (name, params_dict) pair, got {spec!r}."
        )
    if name not in _REGISTRY or (name in _INTERNAL and not internal):
        raise ValueError(f"{parameter}: Unknown student {name!r}; available: {available_students()}.")
    known = student_hyperparameters(name)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{parameter}: student {name!r} has no parameter(s) {unknown}; it accepts {sorted(known)}.")
    if params and not _REGISTRY[name].reads_sequences:
        _try_build(name, params, parameter)
    return name, params


def _try_build(name: str, params: dict, parameter: str) -> None:
    """Build the network once on two tiny fields, so a bad value fails here, naming it, not deep inside fit."""
    try:
        _REGISTRY[name](2, 4, **params)
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ValueError(f"{parameter}: student {name!r} cannot be built with {params}: {exc}") from None


def resolve_student_params(spec, shared: Mapping, parameter: str = "students") -> tuple[str, dict]:
    """Full hyper-parameters of a student: its own params over the shared ones it accepts."""
    name, params = parse_student(spec, parameter, internal=True)
    known = student_hyperparameters(name)
    resolved = {key: shared[key] for key in SHARED_PARAMS if key in known and key in shared}
    resolved.update(params)
    return name, resolved


def explicit_spec(network: StudentNetwork) -> tuple[str, dict]:
    """``(name, params)`` of a built network with every hyper-parameter explicit, defaults included.

    Rebuilding from it gives exactly this network, whatever shared parameters
    or defaults were in force when it was created.
    """
    name = network.registry_name
    return name, {**student_hyperparameters(name), **network.student_params}


def create_student(
    spec, num_fields: int, embedding_dim: int, shared: Mapping | None = None, sequence_layout: tuple = ()
) -> StudentNetwork:
    """Build a student from ``"name"`` or ``("name", params)``; see :func:`resolve_student_params`.

    ``sequence_layout`` (the embedding's :class:`~skctr.nn.embedding.SequenceSlot` s)
    reaches only the networks that read sequences.
    """
    name, params = resolve_student_params(spec, shared or {})
    cls = student_class(name)
    layout = (tuple(sequence_layout),) if cls.reads_sequences else ()
    module = cls(num_fields, embedding_dim, *layout, **params)
    module.student_params = params
    return module
