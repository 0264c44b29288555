"""Every documented default is the signature's default, for every estimator and the encoder."""
import ast
import inspect
import re

import pytest
from numpydoc.docscrape import ClassDoc

from skctr import CETNetClassifier, FieldEncoder, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier

CLASSES = [CETNetClassifier, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier, FieldEncoder]


def documented_defaults(cls) -> dict:
    """``name -> default`` as each Parameters entry's type line states it (entries naming several share it)."""
    defaults = {}
    for entry in ClassDoc(cls)["Parameters"]:
        match = re.search(r"default=(.+)$", entry.type)
        if match:
            for name in entry.name.split(","):
                defaults[name.strip()] = match.group(1).strip()
    return defaults


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_documented_defaults_equal_the_signature(cls):
    signature = inspect.signature(cls.__init__).parameters
    documented = documented_defaults(cls)
    assert set(documented) <= set(signature)
    for name, text in documented.items():
        default = signature[name].default
        assert same_value(text, default), f"{cls.__name__}.{name}: documented default={text}, signature has {default!r}"


def same_value(text: str, default) -> bool:
    """Whether a docstring's ``default=...`` text spells ``default`` (a literal, or a numpy type such as np.float32)."""
    try:
        return ast.literal_eval(text) == default and type(ast.literal_eval(text)) is type(default)
    except (ValueError, SyntaxError):
        return text == f"np.{getattr(default, '__name__', None)}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_parameter_is_documented(cls):
    names = {n.strip() for entry in ClassDoc(cls)["Parameters"] for n in entry.name.split(",")}
    assert set(inspect.signature(cls.__init__).parameters) - {"self"} <= names


def test_final_documents_its_own_defaults():
    doc = FINALClassifier.__doc__
    assert "hidden_units : sequence of int, default=(400, 400)\n" in doc
    assert "dropout : float, default=0.1\n" in doc
    assert "embedding_l2 : float, default=0.1\n" in doc
