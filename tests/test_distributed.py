"""Data-parallel training: two CPU processes (gloo) under torchrun reproduce one process's model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ddp_worker import MODELS, data  # tests/ is on sys.path (rootdir conftest, prepend import mode)

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")


def run_two_processes(kind, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(WORKER), kind, str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in (0, 1)]


@pytest.mark.parametrize("kind", ["student", "kdef"])
def test_two_processes_match_one(kind, tmp_path):
    ranks = run_two_processes(kind, tmp_path)
    X_train, y_train, X_test = data()
    torch.set_num_threads(1)
    single = MODELS[kind]().fit(X_train, y_train)
    expected = single.predict_proba(X_test)[:, 1]

    # Both processes end with the same model, unwrapped from DistributedDataParallel.
    np.testing.assert_array_equal(ranks[0]["proba"], ranks[1]["proba"])
    assert not ranks[0]["wrapped"] and not ranks[1]["wrapped"]
    # Each process took half of every batch, so together they ran the same number of steps on the
    # same rows as one process; the averaged gradients equal one process's up to summation order.
    assert ranks[0]["epochs"] == len(single.history_)
    assert ranks[0]["train_batches"] == single.history_[-1, "train_batch_count"]
    np.testing.assert_allclose(ranks[0]["proba"], expected, atol=1e-4, rtol=0)
