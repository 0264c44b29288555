"""The skorch net that trains every skctr module with the CTR training recipe."""
from __future__ import annotations

import contextlib
import signal
import threading
import time

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PassthroughScoring, PrintLog, ProgressBar
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator

from ..nn import FieldEmbedding
from ..nn.optim import clip_grad_norm
from ._callbacks import MemberScoring, ReleasingLRScheduler, RestoringEarlyStopping
from ._distributed import SparseGradientAverage, gathered, leave_tables_to_us
from ._data import BatchIterator
from ._stream import FieldStream, StreamBatchIterator

#: Gradient-norm clipping threshold of the CTR training recipe (FuxiCTR's); without it the first epochs crawl.
GRADIENT_CLIP_NORM = 10.0
#: Learning-rate floor when the rate is divided by 10 after each non-improving epoch.
MIN_LR = 1e-6
#: An epoch counts as an improvement only if validation AUC rises by more than this.
IMPROVEMENT_THRESHOLD = 1e-6
#: ``mixed_precision`` values and the autocast dtype of each.
MIXED_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}


class GradientClipping(Callback):
    """Clip the joint gradient norm at ``max_norm`` after every backward pass, sparse table gradients included."""

    def __init__(self, max_norm: float):
        self.max_norm = max_norm

    def on_grad_computed(self, net, named_parameters, **kwargs):
        clip_grad_norm((p for _, p in named_parameters), self.max_norm)


class FitInterrupted(Exception):
    """Ctrl-C during training, carried past skorch, which would swallow a KeyboardInterrupt and return."""


@contextlib.contextmanager
def _watching_ctrl_c():
    """Record whether SIGINT arrives: skorch's early stopping raises KeyboardInterrupt too, Ctrl-C must differ."""
    fired = []
    if threading.current_thread() is not threading.main_thread():
        yield fired  # signals only reach the main thread
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        fired.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield fired
    finally:
        signal.signal(signal.SIGINT, previous)


class CTRNet(NeuralNet):
    """skorch net running a skctr module with the CTR training recipe.

    Each epoch: shuffled tensor-slice batches, Adam, gradient norm clipped at
    10, ``embedding_l2 / 2 * sum(W**2)`` over every embedding table added to
    the training loss (with ``sparse_embeddings``, over the rows each batch
    looks up, and the tables updated row-sparse by LazyAdam), validation AUC/logloss of the prediction and every
    member recorded, learning rate divided by 10 on the ``patience - 1``-th
    epoch in a row without a validation-AUC gain, stop on the ``patience``-th,
    best weights restored. With ``mixed_precision`` the forward passes run under
    ``torch.autocast`` in that dtype (losses in float32), and fp16 training
    scales the loss with a ``GradScaler``, unscaling before gradient clipping.
    """

    def __init__(self, module, *args, member_names=(), embedding_l2=0.0, patience=3, mixed_precision=None,
                 shard=(0, 1), sparse_embeddings=False, **kwargs):
        # The loss is the module's own (``module.loss``), so skorch gets no criterion.
        super().__init__(module, None, *args, **kwargs)
        self.member_names = member_names
        self.embedding_l2 = embedding_l2
        self.patience = patience
        self.mixed_precision = mixed_precision
        self.shard = shard
        self.sparse_embeddings = sparse_embeddings
        self.starting_score = None  # a warm start's validation AUC before training (RestoringEarlyStopping)

    def initialize_criterion(self):
        self.criterion_ = None
        return self

    def initialize_module(self):
        super().initialize_module()
        for module in self.module_.modules():
            if isinstance(module, FieldEmbedding):
                module.sparse = self.sparse_embeddings
        if self.shard[1] > 1:
            # Data-parallel training: DistributedDataParallel broadcasts rank 0's initial weights and
            # all-reduces (averages) gradients during backward. The estimator unwraps it after fit.
            # DDP wants the module on its device already; skorch would move it only after this method.
            device = torch.device(self.device)
            device_ids = None
            if device.type == "cuda":
                device_ids = [torch.cuda.current_device() if device.index is None else device.index]
            leave_tables_to_us(self.module_, self.sparse_embeddings)  # sparse ones: SparseGradientAverage
            self.module_ = torch.nn.parallel.DistributedDataParallel(self.module_.to(device), device_ids=device_ids)
        return self

    @property
    def network(self) -> torch.nn.Module:
        """The skctr module, inside its DistributedDataParallel wrapper or not."""
        return getattr(self.module_, "module", self.module_)

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_scoring", MemberScoring(list(self.member_names))),
            (
                "lr_plateau",
                ReleasingLRScheduler(
                    policy="ReduceLROnPlateau",
                    monitor="valid_auc",
                    mode="max",
                    factor=0.1,
                    # Cut on the (patience - 1)-th miss in a row (torch counts the misses it tolerates): one noisy
                    # epoch early in training must not end learning at the full rate (docs/defaults.md).
                    patience=max(self.patience - 2, 0),
                    threshold=IMPROVEMENT_THRESHOLD,
                    threshold_mode="abs",
                    min_lr=MIN_LR,
                ),
            ),
            (
                "early_stopping",
                RestoringEarlyStopping(
                    monitor="valid_auc",
                    lower_is_better=False,
                    patience=self.patience,
                    threshold=IMPROVEMENT_THRESHOLD,
                    threshold_mode="abs",
                ),
            ),
            ("gradient_clipping", GradientClipping(GRADIENT_CLIP_NORM)),
            ("print_log", PrintLog()),
        ]
        if self.sparse_embeddings and self.shard[1] > 1:
            callbacks.insert(-2, ("sparse_gradient_average", SparseGradientAverage()))
        if self.verbose:
            callbacks.insert(-1, ("progress_bar", ProgressBar()))
        return callbacks

    def get_iterator(self, dataset, training=False):
        # Validation is not sharded: every process scores the whole set, so early stopping agrees.
        shard = self.shard if training else (0, 1)
        iterator = StreamBatchIterator if isinstance(dataset, FieldStream) else BatchIterator
        return iterator(dataset, self.batch_size, shuffle=training, device=self.device, shard=shard)

    def infer(self, x, **fit_params):
        if isinstance(x, dict) and "sample_weight" in x:  # the loss reads the weights, the network does not
            x = {key: value for key, value in x.items() if key != "sample_weight"}
        if self.mixed_precision is None:
            return super().infer(x, **fit_params)
        with torch.autocast(torch.device(self.device).type, dtype=MIXED_PRECISION[self.mixed_precision]):
            output = super().infer(x, **fit_params)
        # Losses, calibration and metrics read float32, whatever the layers computed in.
        return tuple(t.float() for t in output)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        with _watching_ctrl_c() as ctrl_c:
            try:
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
            except KeyboardInterrupt as exc:
                if ctrl_c:
                    raise FitInterrupted from exc
                raise

    def train_step(self, batch, **fit_params):
        if self.mixed_precision != "fp16":
            return super().train_step(batch, **fit_params)
        # fp16 gradients underflow without loss scaling; skorch's closure-based optimizer step cannot
        # host a GradScaler, so the step is spelled out here.
        if getattr(self, "grad_scaler_", None) is None:
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        self._zero_grad_optimizer()
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.grad_scaler_.scale(loss).backward()
        self.grad_scaler_.unscale_(self.optimizer_)  # clipping callbacks must see the true gradients
        self.notify(
            "on_grad_computed", named_parameters=TeeGenerator(self.get_all_learnable_params()), batch=batch, training=True
        )
        self.grad_scaler_.step(self.optimizer_)
        self.grad_scaler_.update()
        return {"loss": loss, "y_pred": y_pred}

    def train_pass(self, dataset, lr: float) -> None:
        """One shuffled pass over ``dataset`` at learning rate ``lr``, keeping the optimizer's state: no
        validation, schedule or early stopping (``partial_fit``). Recorded as an epoch of ``history``."""
        for group in self.optimizer_.param_groups:
            group["lr"] = lr
        self.history.new_epoch()
        self.history.record("epoch", len(self.history))
        start, total, rows, done = time.time(), 0.0, 0, 0
        batches = self.get_iterator(dataset, training=True)
        try:
            for batch in batches:
                loss = self.train_step(batch)["loss"]
                size = len(batch[1])
                total, rows, done = total + loss.detach() * size, rows + size, done + 1
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"partial_fit was interrupted after {done} of {len(batches)} batches; the model holds their updates."
            ) from None
        self.history.record("train_loss", float(total) / max(rows, 1))
        self.history.record("lr", lr)
        self.history.record("dur", time.time() - start)
        self.history.record("partial_fit", True)

    def on_train_end(self, net, **kwargs):
        # The scaler's state lives on the training device and only matters within one fit.
        self.grad_scaler_ = None

    def get_loss(self, y_pred, y_true, X=None, training=False):
        weight = X.get("sample_weight") if isinstance(X, dict) else None
        loss = self.network.loss(y_pred, y_true, weight)
        if training and self.embedding_l2:
            # Sparse tables are penalised on the batch's rows, so the step stays sparse; dense ones whole.
            ids = X["ids"] if self.sparse_embeddings else None
            if ids is not None and self.shard[1] > 1:
                ids = gathered(ids)  # the whole batch's rows: each row's clock moves as in one process
            penalty = sum(m.l2_penalty(ids) for m in self.module_.modules() if isinstance(m, FieldEmbedding))
            loss = loss + self.embedding_l2 * penalty
        return loss
