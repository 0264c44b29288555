"""One process of the data-parallel test (tests/test_distributed.py), launched by torchrun.

Usage: python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py KIND OUT_DIR [DEVICE]
Fits KIND on the same data and seed as the single-process reference and saves its test predictions.
"""
import sys

import numpy as np
import torch
import torch.distributed as dist

from skctr import KDEFClassifier, StudentClassifier, make_ctr

# Batch norm and dropout would differ between one process and two by design (per-process batch
# statistics, per-process dropout streams); without them the two runs must agree.
PARAMS = dict(hidden_units=(32,), batch_norm=False, dropout=0.0, max_epochs=4, batch_size=256, device="cpu",
              random_state=0)
MODELS = {
    "student": lambda **kw: StudentClassifier(**{**PARAMS, **kw}),
    "kdef": lambda **kw: KDEFClassifier(n_students=2, **{**PARAMS, **kw}),
    "student_sparse": lambda **kw: StudentClassifier(**{**PARAMS, "sparse_embeddings": True, **kw}),
    "kdef_sparse": lambda **kw: KDEFClassifier(n_students=2, **{**PARAMS, "sparse_embeddings": True, **kw}),
}


def data():
    X, y = make_ctr(n_samples=3000, random_state=0)
    return X.iloc[:2400], y[:2400], X.iloc[2400:]


def main(kind, out, device="cpu"):
    dist.init_process_group("gloo")  # gloo also carries CUDA tensors, so two processes may share one GPU
    torch.set_num_threads(1)
    X_train, y_train, X_test = data()
    model = MODELS[kind](device=device).fit(X_train, y_train)
    np.savez(
        f"{out}/rank{dist.get_rank()}.npz",
        proba=model.predict_proba(X_test)[:, 1],
        epochs=len(model.history_),
        train_batches=model.history_[-1, "train_batch_count"],
        wrapped=type(model.net_.module_).__name__ == "DistributedDataParallel",
        sparse=model.net_.sparse_embeddings,
        device=str(next(model.net_.module_.parameters()).device),
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
