"""What every example shares: its data (Frappe when ../shared/data is there, synthetic otherwise) and output folder.

``SKCTR_EXAMPLE_SMALL=1`` runs an example on a few thousand rows with few epochs (the test suite does this);
``SKCTR_EXAMPLE_OUT`` is where examples write files (default: a new temporary folder).
"""
import os
import tempfile
from pathlib import Path

import pandas as pd

from skctr import make_ctr

SMALL = os.environ.get("SKCTR_EXAMPLE_SMALL") == "1"
DATA = Path(os.environ.get("SKCTR_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_splits():
    """``(X_train, y_train), (X_valid, y_valid), (X_test, y_test)`` and the data set's name."""
    folder = DATA / "frappe"
    if (folder / "train.parquet").exists():
        splits = []
        for split, rows in (("train", 6000 if SMALL else None), ("valid", 2000 if SMALL else None), ("test", 2000 if SMALL else None)):
            frame = pd.read_parquet(folder / f"{split}.parquet")
            frame = frame.sample(rows, random_state=0) if rows else frame
            splits.append((frame.drop(columns="label"), frame["label"].to_numpy()))
        return splits, "Frappe"
    n = 8000 if SMALL else 150_000
    X, y = make_ctr(n_samples=n, cardinality=(5, 200), random_state=0)
    cut1, cut2 = int(n * 0.7), int(n * 0.85)
    return [(X.iloc[:cut1], y[:cut1]), (X.iloc[cut1:cut2], y[cut1:cut2]), (X.iloc[cut2:], y[cut2:])], "make_ctr"


def fast_params():
    """Estimator settings that keep a small run to seconds; empty for a full run."""
    return {"max_epochs": 2, "hidden_units": (64, 64), "batch_size": 512} if SMALL else {}


def output_folder() -> Path:
    folder = Path(os.environ.get("SKCTR_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="skctr-example-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
