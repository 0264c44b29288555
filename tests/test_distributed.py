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

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available"),
]


def run_two_processes(kind, out, device="cpu"):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(WORKER), kind, str(out), device],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in (0, 1)]


@pytest.mark.parametrize("kind", ["student", "kdef", "student_sparse", "kdef_sparse"])
def test_two_processes_match_one(kind, tmp_path):
    """Row-sparse tables too: their gradients are averaged after backward and the embedding penalty reads
    the whole batch's rows, so each row's penalty clock moves as in one process."""
    ranks = run_two_processes(kind, tmp_path)
    X_train, y_train, X_test = data()
    torch.set_num_threads(1)
    single = MODELS[kind]().fit(X_train, y_train)
    expected = single.predict_proba(X_test)[:, 1]

    # Both processes end with the same model, unwrapped from DistributedDataParallel.
    np.testing.assert_array_equal(ranks[0]["proba"], ranks[1]["proba"])
    assert not ranks[0]["wrapped"] and not ranks[1]["wrapped"]
    assert ranks[0]["sparse"] == kind.endswith("sparse") == single.net_.sparse_embeddings
    # Each process took half of every batch, so together they ran the same number of steps on the
    # same rows as one process; the averaged gradients equal one process's up to summation order.
    assert ranks[0]["epochs"] == len(single.history_)
    assert ranks[0]["train_batches"] == single.history_[-1, "train_batch_count"]
    np.testing.assert_allclose(ranks[0]["proba"], expected, atol=1e-4, rtol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_two_processes_on_cuda_match_one(tmp_path):
    """device="auto" under torchrun: each process takes LOCAL_RANK modulo the GPUs (here they may share one)."""
    ranks = run_two_processes("kdef", tmp_path, device="auto")
    X_train, y_train, X_test = data()
    expected = MODELS["kdef"](device="cuda").fit(X_train, y_train).predict_proba(X_test)[:, 1]
    assert str(ranks[0]["device"]).startswith("cuda")
    np.testing.assert_allclose(ranks[0]["proba"], ranks[1]["proba"], atol=1e-6)
    # CUDA kernels sum in a nondeterministic order: agreement up to that noise.
    np.testing.assert_allclose(ranks[0]["proba"], expected, atol=1e-3)
