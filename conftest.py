"""Session-wide test configuration (loaded for ``tests/`` and for the doctests under ``skctr/`` alike).

A doctest cannot carry a marker, so the ones that train a model are marked ``slow`` here:
``python -m pytest -m "not slow"`` skips them, a plain run still runs them.
"""
from __future__ import annotations

import re

import pytest
from _pytest.doctest import DoctestItem

#: A doctest trains when it calls ``.fit(`` and builds one of skctr's classifiers (directly or in a pipeline);
#: fitting a FieldEncoder alone (vocabularies only) stays in the fast subset.
_FIT = re.compile(r"\.fit\(")
_CLASSIFIER = re.compile(r"\b\w*Classifier\(")


def doctest_trains(item: DoctestItem) -> bool:
    source = "".join(example.source for example in item.dtest.examples)
    return bool(_FIT.search(source) and _CLASSIFIER.search(source))


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, DoctestItem) and doctest_trains(item):
            item.add_marker(pytest.mark.slow)
