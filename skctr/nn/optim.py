"""Adam with lazy, row-sparse updates of embedding tables, and gradient clipping that reads sparse gradients.

A table looked up with ``sparse=True`` gets a sparse gradient: only the rows a
batch used. :class:`LazyAdam` updates dense parameters as Adam does and such
tables lazily: the moments and weights of a row move only when a batch uses
it. A step then costs what the batch touched, not the table's size.
"""
from __future__ import annotations

import torch


class LazyAdam(torch.optim.Adam):
    """:class:`torch.optim.Adam` for dense gradients; lazy Adam for sparse ones (rows a batch used).

    For a parameter whose gradient is sparse (an embedding table), with ``g``
    the coalesced gradient of the rows ``r`` a batch used and ``t`` the
    parameter's step count::

        m[r] = b1 * m[r] + (1 - b1) * g
        v[r] = b2 * v[r] + (1 - b2) * g**2
        W[r] -= lr * (m[r] / (1 - b1**t)) / (sqrt(v[r] / (1 - b2**t)) + eps)

    which is Adam on those rows; the other rows, moments included, are left
    alone (Adam would keep moving them by their decaying momentum). The
    state has Adam's keys and shapes, so a table can switch between dense and
    sparse training. ``weight_decay``, ``amsgrad`` and the other Adam options
    apply to dense parameters only.

    Parameters
    ----------
    params, **kwargs
        As :class:`torch.optim.Adam`.
    sparse_state_dtype : torch.dtype, default=torch.float32
        The dtype in which the moments of sparsely updated tables are kept.
        ``torch.bfloat16`` halves their memory; they are then updated in
        float32 and rounded back stochastically (up or down with the
        probability that keeps the rounding unbiased), because plain rounding
        to bfloat16's 8 significant bits would drop ``v``'s increments of
        ``(1 - b2) * g**2`` whenever they are under about 1/256 of ``v``, and
        the second moment would stop following the gradients.
    """

    def __init__(self, params, *args, sparse_state_dtype: torch.dtype = torch.float32, **kwargs):
        super().__init__(params, *args, **kwargs)
        self.sparse_state_dtype = sparse_state_dtype
        self._rounding_generator = None

    def __getstate__(self):
        # Optimizer pickles its defaults, state and groups only; the rounding stream starts anew.
        return {**super().__getstate__(), "sparse_state_dtype": self.sparse_state_dtype}

    def __setstate__(self, state):
        super().__setstate__(state)
        self._rounding_generator = None

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        sparse = [(p, group) for group in self.param_groups for p in group["params"]
                  if p.grad is not None and p.grad.is_sparse]
        grads = [p.grad for p, _ in sparse]
        for p, _ in sparse:
            p.grad = None  # Adam's own step skips parameters without a gradient
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._moments_in(p, p.dtype)  # a table that trained sparse may train dense now
        try:
            super().step()
        finally:
            for (p, _), grad in zip(sparse, grads):
                p.grad = grad
        for (p, group), grad in zip(sparse, grads):
            self._lazy_step(p, grad.coalesce(), group)
        return loss

    def _moments_in(self, p, dtype) -> None:
        state = self.state[p]
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state and state[key].dtype != dtype:
                state[key] = state[key].to(dtype)

    def _lazy_step(self, p, grad, group):
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, dtype=self.sparse_state_dtype)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=self.sparse_state_dtype)
        self._moments_in(p, self.sparse_state_dtype)
        rows, values = grad.indices()[0], grad.values().to(p.dtype)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = float(state["step"])
        exp_avg = state["exp_avg"].index_select(0, rows).to(p.dtype).mul_(beta1).add_(values, alpha=1 - beta1)
        exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).to(p.dtype)
        exp_avg_sq.mul_(beta2).addcmul_(values, values, value=1 - beta2)
        state["exp_avg"].index_copy_(0, rows, self._stored(exp_avg))
        state["exp_avg_sq"].index_copy_(0, rows, self._stored(exp_avg_sq))
        denom = (exp_avg_sq / (1 - beta2**step)).sqrt_().add_(group["eps"])
        p.index_add_(0, rows, exp_avg / (1 - beta1**step) / denom, alpha=-float(group["lr"]))

    def _stored(self, values: torch.Tensor) -> torch.Tensor:
        """Float32 moments in ``sparse_state_dtype``: bfloat16 by unbiased stochastic rounding."""
        if self.sparse_state_dtype != torch.bfloat16 or values.dtype != torch.float32:
            return values.to(self.sparse_state_dtype)
        if self._rounding_generator is None:
            # Its own stream, from the global seed: a seeded fit stays deterministic, and dropout and
            # shuffling draw what they would draw without the rounding.
            self._rounding_generator = torch.Generator(values.device)
            self._rounding_generator.manual_seed(torch.initial_seed())
        noise = torch.randint(0, 1 << 16, values.shape, dtype=torch.int32, device=values.device,
                              generator=self._rounding_generator)
        # bfloat16 is float32's upper 16 bits: adding uniform noise below them and truncating rounds
        # the magnitude up with probability equal to the dropped fraction.
        return ((values.view(torch.int32) + noise) & -(1 << 16)).view(torch.float32).to(torch.bfloat16)


def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """Scale every gradient so that their joint L2 norm is at most ``max_norm``; the norm before.

    As :func:`torch.nn.utils.clip_grad_norm_`, and also for sparse gradients:
    they are coalesced first (a row looked up twice contributes the sum of
    its two gradients, as its dense gradient would).
    """
    grads = []
    for p in parameters:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            grads.append(p.grad.values())
        else:
            grads.append(p.grad)
    if not grads:
        return torch.zeros(())
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return norm
