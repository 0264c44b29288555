"""Shared fixtures: real data sets from ../shared/data, skipped cleanly when absent."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

DATA_DIR = Path(os.environ.get("SKCTR_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def load_split(name: str, split: str) -> pd.DataFrame:
    """Read one split of a shared data set, skipping the test when it is absent."""
    path = DATA_DIR / name / f"{split}.parquet"
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    return pd.read_parquet(path)


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """Tiny models on one thread: with the cores shared, torch's intra-op threads spin and a small fit
    takes seconds instead of a fraction of one. Real-data tests keep every thread."""
    if request.node.get_closest_marker("realdata"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
