"""Shared fixtures: real data sets from ../shared/data, skipped cleanly when absent."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

DATA_DIR = Path(os.environ.get("SKCTR_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def load_split(name: str, split: str) -> pd.DataFrame:
    """Read one split of a shared data set, skipping the test when it is absent."""
    path = DATA_DIR / name / f"{split}.parquet"
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    return pd.read_parquet(path)
