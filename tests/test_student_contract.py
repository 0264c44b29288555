"""Every registry network honours the StudentNetwork contract (skctr/nn/students/base.py)."""
import pytest
import torch

from skctr.nn import FieldEmbedding
from skctr.nn.students import available_students, create_student, student_class, student_hyperparameters
from skctr.nn.students.base import StudentNetwork
from skctr.preprocessing import Field, FieldSpec

# Small settings for networks whose defaults are wide; the contract does not depend on width.
SMALL = {"hidden_units": (8,), "dropout": 0.0}


def field_spec():
    """Two categorical fields, a numeric one and a history of the item field (3 items long)."""
    return FieldSpec([
        Field("user", "categorical", 6),
        Field("item", "categorical", 9),
        Field("price", "numeric"),
        Field("history", "sequence", 9, max_len=3, target="item"),
    ])


def batch(n=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(3, 6, (n, 1), generator=gen)
    item = torch.randint(3, 9, (n, 1), generator=gen)
    history = torch.randint(3, 9, (n, 3), generator=gen)
    history[: n // 2, 1:] = 0  # short histories
    history[: n // 4] = 0  # and new users: padding only
    return torch.cat([user, item, history], 1), torch.randn(n, 1, generator=gen)


@pytest.mark.parametrize("name", available_students())
def test_forward_hidden_contract(name):
    torch.manual_seed(0)
    spec = field_spec()
    embedding = FieldEmbedding(spec, 8, init_std=0.1)
    params = {k: v for k, v in SMALL.items() if k in student_hyperparameters(name)}
    network = create_student((name, params), len(spec), 8, sequence_layout=embedding.sequence_layout)
    assert isinstance(network, StudentNetwork) and network.registry_name == name
    ids, values = batch()
    E, sequences = embedding(ids, values, return_sequences=True)
    network.eval()
    logit, hidden = network.forward_hidden(E, sequences)
    assert logit.shape == (16,) and hidden.shape == (16, network.hidden_dim)
    assert torch.isfinite(logit).all() and torch.isfinite(hidden).all()
    torch.testing.assert_close(network(E, sequences), logit)


def test_sequence_layout_names_the_history_and_its_target():
    embedding = FieldEmbedding(field_spec(), 4)
    assert embedding.sequence_layout == ((3, 1),)
    ids, values = batch()
    E, (history,) = embedding(ids, values, return_sequences=True)
    assert history.embeddings.shape == (16, 3, 4) and history.mask.dtype == torch.bool
    # The pooled slot is the masked mean of the unpooled rows; padding-only histories pool to zeros.
    weights = history.mask.unsqueeze(-1).float()
    pooled = (history.embeddings * weights).sum(1) / weights.sum(1).clamp_min(1)
    torch.testing.assert_close(E[:, 3], pooled)
    assert torch.equal(E[:4, 3], torch.zeros(4, 4))


def test_a_network_outside_the_contract_cannot_register():
    from skctr.nn.students import register_student

    with pytest.raises(TypeError, match="StudentNetwork"):
        register_student("plain_module")(torch.nn.Linear)
    assert issubclass(student_class("mlp"), StudentNetwork)
