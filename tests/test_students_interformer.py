"""InterFormer student: shapes, padding, sequence layouts, validation, a real FieldEmbedding, training, gradients."""
import pytest
import torch
import torch.nn.functional as F

from skctr.nn import SingleNetwork
from skctr.nn.students import create_student, student_hyperparameters
from skctr.nn.embedding import SequenceEmbedding, SequenceSlot
from skctr.nn.students.interformer import InterFormerStudent, most_recent, rotate
from skctr.preprocessing import Field, FieldSpec
from test_nn import adam_losses

SMALL = {"num_layers": 2, "num_heads": 2, "num_cls_tokens": 2, "num_pma_tokens": 2, "num_recent_tokens": 2,
         "hidden_units": (8,)}
D = 4


def build(num_fields=4, layout=(SequenceSlot(2, 0),), **extra):
    return create_student(("interformer", {**SMALL, **extra}), num_fields, D, sequence_layout=layout)


def batch(B=5, num_fields=4, lengths=(6,), valid=None, seed=0):
    """Random field embedding and sequences; ``valid[i]`` (B,) the number of leading real items of sequence i."""
    gen = torch.Generator().manual_seed(seed)
    E = torch.randn(B, num_fields, D, generator=gen)
    seqs = []
    for i, L in enumerate(lengths):
        n_valid = torch.randint(0, L + 1, (B,), generator=gen) if valid is None else valid[i]
        mask = torch.arange(L).unsqueeze(0) < n_valid.unsqueeze(1)
        seqs.append(SequenceEmbedding(torch.randn(B, L, D, generator=gen), mask))
    return E, seqs


def test_registered_with_shared_params():
    model = build()
    assert isinstance(model, InterFormerStudent) and model.reads_sequences
    params = student_hyperparameters("interformer")
    assert {"hidden_units", "dropout", "batch_norm"} <= set(params)
    assert params["num_cls_tokens"] == 4 and params["num_pma_tokens"] == 2 and params["num_recent_tokens"] == 2
    default = create_student("interformer", 4, 16, sequence_layout=(SequenceSlot(2, 0),)).eval()
    E, seqs = batch(2)
    E16 = torch.randn(2, 4, 16)
    seqs16 = [SequenceEmbedding(torch.randn(2, 6, 16), seqs[0].mask)]
    assert default(E16, seqs16).shape == (2,)


def test_shapes_of_forward_and_forward_hidden():
    torch.manual_seed(0)
    model = build(batch_norm=True, dropout=0.1)
    E, seqs = batch(5)
    assert model(E, seqs).shape == (5,)
    logit, hidden = model.forward_hidden(E, seqs)
    assert logit.shape == (5,) and hidden.shape == (5, model.hidden_dim) and model.hidden_dim == 8
    model.eval()
    E1, seqs1 = batch(1)
    assert model(E1, seqs1).shape == (1,)
    bare = build(hidden_units=())
    assert bare.forward_hidden(E, seqs)[1].shape == (5, bare.hidden_dim)


@pytest.mark.parametrize("fill", ["empty", "full"])
def test_new_users_and_full_histories_are_finite(fill):
    torch.manual_seed(0)
    model = build()
    n_valid = torch.zeros(6, dtype=torch.long) if fill == "empty" else torch.full((6,), 6)
    E, seqs = batch(6, valid=[n_valid])
    E.requires_grad_(True)
    out = model(E, seqs)
    assert torch.isfinite(out).all()
    F.binary_cross_entropy_with_logits(out, torch.tensor([0.0, 1.0] * 3)).backward()
    assert torch.isfinite(E.grad).all()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize("lengths", [(6,), (3, 5)])
def test_padding_positions_do_not_influence_the_output(lengths):
    torch.manual_seed(0)
    layout = tuple(SequenceSlot(2 + i, 0) for i in range(len(lengths)))
    model = build(num_fields=5, layout=layout).eval()
    valid = [torch.tensor([0, 1, 2, L, L - 1, 2]) for L in lengths]  # a new user, short and full histories
    E, seqs = batch(6, num_fields=5, lengths=lengths, valid=valid)
    noisy = [SequenceEmbedding(torch.where(s.mask.unsqueeze(-1), s.embeddings, 100 * torch.randn_like(s.embeddings)),
                               s.mask) for s in seqs]
    with torch.no_grad():
        assert torch.allclose(model(E, seqs), model(E, noisy), atol=1e-6)
        # ...whereas a real item does matter.
        changed = [SequenceEmbedding(seqs[0].embeddings + 1.0, seqs[0].mask)] + seqs[1:]
        assert not torch.allclose(model(E, seqs), model(E, changed))


def test_two_sequences_of_different_lengths():
    torch.manual_seed(0)
    layout = (SequenceSlot(1, 0), SequenceSlot(3, None))
    model = build(num_fields=5, layout=layout)
    E, seqs = batch(4, num_fields=5, lengths=(3, 7))
    logit, hidden = model.forward_hidden(E, seqs)
    assert logit.shape == (4,) and torch.isfinite(logit).all() and hidden.shape == (4, model.hidden_dim)
    # The pooled slots of the sequence fields are not tokens (unless kept).
    assert model.token_index.tolist() == [0, 2, 4]
    assert build(num_fields=5, layout=layout, keep_pooled_sequences=True).token_index.tolist() == [0, 1, 2, 3, 4]


def test_validation_errors():
    with pytest.raises(ValueError, match="at least one behaviour-sequence field"):
        InterFormerStudent(4, D, ())
    with pytest.raises(ValueError, match="at least one behaviour-sequence field"):
        create_student("interformer", 4, D)
    with pytest.raises(ValueError, match="RoPE needs an even dimension per head"):
        InterFormerStudent(4, 6, (SequenceSlot(2, 0),), num_heads=2)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        InterFormerStudent(4, 6, (SequenceSlot(2, 0),), num_heads=4)
    with pytest.raises(ValueError, match="keep_pooled_sequences"):
        InterFormerStudent(1, D, (SequenceSlot(0, None),))
    InterFormerStudent(1, D, (SequenceSlot(0, None),), keep_pooled_sequences=True, hidden_units=(4,))
    with pytest.raises(TypeError):
        InterFormerStudent(4, D, (SequenceSlot(2, 0),), 2)  # hyper-parameters are keyword-only
    model = build()
    E, seqs = batch(2)
    with pytest.raises(ValueError, match="return_sequences=True"):
        model(E)


def test_rotary_is_relative_and_norm_preserving():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 8, generator=gen), torch.randn(1, 8, generator=gen)
    at = lambda x, p: rotate(x, torch.tensor([p]))  # noqa: E731
    assert torch.allclose(at(q, 0), q)
    assert torch.allclose(at(q, 5).norm(), q.norm())
    assert torch.allclose((at(q, 3) * at(k, 1)).sum(), (at(q, 7) * at(k, 5)).sum(), atol=1e-5)
    assert not torch.allclose((at(q, 3) * at(k, 1)).sum(), (at(q, 1) * at(k, 3)).sum())


def test_most_recent_tokens():
    items = torch.arange(1.0, 6.0).view(1, 5, 1).repeat(3, 1, 1)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 1, 1]], dtype=torch.bool)
    assert most_recent(items, mask, 2).squeeze(-1).tolist() == [[1, 2], [1, 0], [2, 4]]
    assert most_recent(items, mask, 2, newest_first=False).squeeze(-1).tolist() == [[3, 2], [1, 0], [5, 4]]


def sequence_problem(n=256, seed=0, max_len=4):
    """Label = the candidate item equals the most recent item of the history (position 0, newest first)."""
    gen = torch.Generator().manual_seed(seed)
    spec = FieldSpec([Field("item", "categorical", 7), Field("user", "categorical", 5), Field("price", "numeric"),
                      Field("hist", "sequence", 7, max_len, "item")])
    item = torch.randint(3, 7, (n,), generator=gen)
    user = torch.randint(3, 5, (n,), generator=gen)
    hist = torch.randint(3, 7, (n, max_len), generator=gen)
    length = torch.randint(1, max_len + 1, (n,), generator=gen)
    hist[torch.arange(max_len).unsqueeze(0) >= length.unsqueeze(1)] = 0
    flip = torch.rand(n, generator=gen) < 0.5
    hist[flip, 0] = item[flip]  # balance the classes
    y = (hist[:, 0] == item).float()
    ids = torch.cat([item[:, None], user[:, None], hist], dim=1)
    return spec, ids, torch.rand(n, 1, generator=gen), y


def test_through_a_real_field_embedding():
    torch.manual_seed(0)
    spec, ids, values, y = sequence_problem(8)
    model = SingleNetwork(spec, D, ("interformer", SMALL))
    assert model.embedding.sequence_layout == (SequenceSlot(3, 0),)
    assert model.student.token_index.tolist() == [0, 1, 2]
    out = model(ids, values)[0]
    assert out.shape == (8,) and torch.isfinite(out).all()
    empty = ids.clone()
    empty[:, 2:] = 0  # new users
    assert torch.isfinite(model(empty, values)[0]).all()


def test_a_few_adam_steps_reduce_the_loss():
    torch.manual_seed(0)
    spec, ids, values, y = sequence_problem(128)
    model = SingleNetwork(spec, 8, ("interformer", {**SMALL, "hidden_units": (16,)}))
    model.embedding.weight.data.normal_(std=0.1)
    losses = adam_losses(model, ids, values, y, 30)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():
        assert ((model(ids, values)[0] > 0).float() == y).float().mean() > 0.95


@pytest.mark.parametrize("extra", [{"num_cross_layers": 2}, {"num_pma_tokens": 0, "num_recent_tokens": 0,
                                                             "num_cross_layers": 0, "num_layers": 1}])
def test_gradient_reaches_every_parameter(extra):
    torch.manual_seed(0)
    layout = (SequenceSlot(1, 0), SequenceSlot(3, None))
    model = build(num_fields=5, layout=layout, **extra)
    E, seqs = batch(6, num_fields=5, lengths=(3, 5))
    out = model(E, seqs)
    F.binary_cross_entropy_with_logits(out, torch.tensor([0.0, 1.0] * 3)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
