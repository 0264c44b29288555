"""From a raw DataFrame to the field arrays the networks eat."""
from ._field_encoder import FieldEncoder
from ..fields import (
    FIRST_VALUE_INDEX,
    MISSING_INDEX,
    OOV_INDEX,
    PAD_INDEX,
    Field,
    FieldArray,
    FieldSpec,
    field_spec_of,
)
from ._encode import UnknownValueWarning
from ._vocabulary import VocabularyEncoder

__all__ = [
    "FIRST_VALUE_INDEX",
    "MISSING_INDEX",
    "OOV_INDEX",
    "PAD_INDEX",
    "Field",
    "FieldArray",
    "FieldEncoder",
    "FieldSpec",
    "UnknownValueWarning",
    "VocabularyEncoder",
    "field_spec_of",
]
