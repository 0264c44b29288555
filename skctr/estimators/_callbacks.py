"""Training callbacks: validation metrics of the prediction and of every member network; early stopping."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from skorch.callbacks import Callback, EarlyStopping, LRScheduler

from ..metrics import binary_scores, gauc
from ._snapshot import WeightSnapshot


class MemberScoring(Callback):
    """Records validation AUC and logloss of the prediction and of each member after every epoch.

    Predictions are collected from the validation batches skorch already runs,
    so scoring costs no extra forward pass. History keys: ``valid_auc``,
    ``valid_logloss`` and, with more than one member, ``valid_auc_{name}`` /
    ``valid_logloss_{name}`` per member name.
    """

    def __init__(self, member_names):
        self.member_names = member_names

    def on_epoch_begin(self, net, **kwargs):
        self._logits, self._member_logits = [], []

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if not training:
            # float64 before the sigmoid: float32 probabilities tie and shift the AUC by ~1e-5.
            self._logits.append(y_pred[0].detach().double().cpu())
            self._member_logits.append(y_pred[1].detach().double().cpu())

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None or not self._logits:
            return
        y, weight = dataset_valid.y.numpy(), dataset_valid.weight_array()
        probability = torch.sigmoid(torch.cat(self._logits)).numpy()
        auc, logloss = binary_scores(y, probability, weight)
        net.history.record("valid_auc", auc)
        net.history.record("valid_logloss", logloss)
        if len(self.member_names) > 1:
            members = torch.sigmoid(torch.cat(self._member_logits)).numpy()
            for name, column in zip(self.member_names, members.T):
                auc, logloss = binary_scores(y, column, weight)
                net.history.record(f"valid_auc_{name}", auc)
                net.history.record(f"valid_logloss_{name}", logloss)
        self._logits, self._member_logits = [], []


def member_scores(
    y: np.ndarray, probability: np.ndarray, member_probabilities: np.ndarray, member_names, *, ensemble=True, groups=None,
    sample_weight=None,
):
    """AUC and logloss (weighted by ``sample_weight``; and gAUC, given ``groups``) of the prediction (row "ensemble",
    if ``ensemble``) and of each member."""
    columns = [probability] + (list(member_probabilities.T) if ensemble else [])
    names = (["ensemble"] + list(member_names)) if ensemble else [member_names[0]]
    scores = ["auc", "logloss"] + (["gauc"] if groups is not None else [])
    rows = {}
    for name, column in zip(names, columns):
        rows[name] = binary_scores(y, column, sample_weight) + ((gauc(y, column, groups),) if groups is not None else ())
    return pd.DataFrame.from_dict(rows, orient="index", columns=scores)


class RestoringEarlyStopping(EarlyStopping):
    """skorch's EarlyStopping that restores the best epoch's weights, keeping them in a ``WeightSnapshot``.

    skorch's own ``load_best`` deep-copies the state dict on the training
    device: a second full copy of every table in RAM, pickled verbatim outside
    skorch's device mapping. The snapshot goes to a temporary file when the
    weights are large, and is dropped once restored, so it never reaches a
    pickle.

    A warm start sets the net's ``starting_score`` (the validation score of
    the weights it starts from): an epoch must then beat it to count as an
    improvement, and the starting weights are restored if none does, so
    continuing from a converged model cannot lose validation AUC.
    """

    def __init__(self, monitor="valid_auc", lower_is_better=False, patience=5, threshold=1e-4, threshold_mode="abs"):
        super().__init__(
            monitor=monitor, lower_is_better=lower_is_better, patience=patience, threshold=threshold,
            threshold_mode=threshold_mode, load_best=False,
        )

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.best_weights_ = None
        start = getattr(net, "starting_score", None)
        if start is not None:
            self.dynamic_threshold_ = self._calc_new_threshold(start)
            self._take_snapshot(net)

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        finally:  # skorch stops training by raising; an improving epoch is still kept
            if self.best_epoch_ == net.history[-1, "epoch"]:
                self._take_snapshot(net)

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        if self.best_weights_ is not None and self.best_epoch_ != net.history[-1, "epoch"]:
            self.best_weights_.restore(net.module_)
            self._sink(f"Restoring best model from epoch {self.best_epoch_}.", verbose=net.verbose)
        self._drop_snapshot()

    def _take_snapshot(self, net):
        self._drop_snapshot()  # before copying: two snapshots would double the peak
        self.best_weights_ = WeightSnapshot(net.module_)

    def _drop_snapshot(self):
        if self.best_weights_ is not None:
            self.best_weights_.close()
        self.best_weights_ = None


class ReleasingLRScheduler(LRScheduler):
    """skorch's LRScheduler, letting go of its torch scheduler when training ends.

    The torch scheduler holds the optimizer and through it every parameter,
    so a pickled model would carry its weights and Adam moments twice, the
    second copy outside skorch's device mapping. skorch builds a new
    scheduler at the start of every fit, so nothing is lost.
    """

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        self.lr_scheduler_ = None
