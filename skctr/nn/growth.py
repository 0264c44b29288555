"""Carrying a trained module into one built for grown vocabularies (warm starts with new ids)."""
from __future__ import annotations

import torch
from torch import nn

from .embedding import FieldEmbedding


def grown_state(trained: nn.Module, grown: nn.Module) -> tuple[dict, dict]:
    """``trained``'s weights laid out for ``grown``, a module of the same architecture on grown vocabularies.

    Every embedding table keeps its learned rows, bit for bit, at their new
    positions (a field's rows follow the rows that earlier fields gained);
    the rows of new ids keep ``grown``'s initialisation, so they start as any
    new table's rows do. Everything else is ``trained``'s.

    Returns
    -------
    state : dict
        A state dict for ``grown``.
    table_rows : dict
        For every grown table's state key, ``(rows, n_rows)``: where its old
        rows went and how many it has now (e.g. to grow optimizer moments).
    """
    state, new_state = dict(trained.state_dict()), grown.state_dict()
    trained_modules = dict(trained.named_modules())
    table_rows = {}
    for name, module in grown.named_modules():
        if not isinstance(module, FieldEmbedding):
            continue
        key = f"{name}.weight" if name else "weight"
        rows = module.rows_of(trained_modules[name])
        table = new_state[key].clone()
        table[rows] = state[key].to(table)
        state[key] = table
        table_rows[key] = (rows, table.shape[0])
        # New rows have missed no penalty: they count as penalised at the step the trained module reached.
        prefix = f"{name}." if name else ""
        last = torch.full_like(new_state[prefix + "last_penalised"], int(state[prefix + "penalty_step"]))
        last[rows] = state[prefix + "last_penalised"]
        state[prefix + "last_penalised"] = last
    mismatched = [key for key, value in state.items() if key not in new_state or value.shape != new_state[key].shape]
    if mismatched or len(state) != len(new_state):
        raise ValueError(f"The trained module does not match the grown one's architecture (e.g. {mismatched[:3]}).")
    return state, table_rows


def grown_optimizer_state(optimizer_state: dict, parameter_names: list[str], table_rows: dict) -> dict:
    """An optimizer ``state_dict`` whose per-row state of grown tables (Adam's moments) is grown likewise.

    ``parameter_names`` names the optimizer's parameters in its order. A new
    row's moments are zero: it has seen no gradient yet.
    """
    position = {name: k for k, name in enumerate(parameter_names)}
    state = {k: dict(v) for k, v in optimizer_state["state"].items()}
    for key, (rows, n_rows) in table_rows.items():
        entry = state.get(position[key])
        for name, value in (entry or {}).items():
            if torch.is_tensor(value) and value.dim() and value.shape[0] == len(rows):
                grown = value.new_zeros((n_rows, *value.shape[1:]))
                grown[rows] = value
                entry[name] = grown
    return {"state": state, "param_groups": optimizer_state["param_groups"]}
