"""The blocks written once in skctr.nn (pairwise dots, multi-head attention, the linear term) against hand formulas."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skctr.nn.embedding import SequenceSlot
from skctr.nn.interactions import MultiHeadAttention, PairwiseDotProduct
from skctr.nn.layers import LinearTerm, xavier_init
from skctr.nn.students import create_student


def assert_every_parameter_gets_a_gradient(module, loss):
    module.zero_grad()
    loss.backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


# --------------------------------------------------------------------------------------- pairwise dot product


def dots_by_loop(x):
    batch, slots, _ = x.shape
    return np.array([[x[b, i] @ x[b, j] for i in range(slots) for j in range(i + 1, slots)] for b in range(batch)])


@pytest.mark.parametrize("slots", [2, 3, 6])
def test_pairwise_dots_equal_a_double_loop(slots):
    x = torch.randn(4, slots, 5, generator=torch.Generator().manual_seed(slots), dtype=torch.float64)
    dots = PairwiseDotProduct(slots)
    assert dots.output_dim == slots * (slots - 1) // 2
    np.testing.assert_allclose(dots(x).numpy(), dots_by_loop(x.numpy()), rtol=1e-12)


def test_pairwise_dots_have_no_state_and_pass_gradients():
    dots = PairwiseDotProduct(4)
    assert not list(dots.parameters()) and not dots.state_dict()  # the pair indices are rebuilt, not saved
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(dots, (x,))
    dots(x).sum().backward()
    # d/dx_i of sum_{j != i} <x_i, x_j> is the sum of the other slots.
    torch.testing.assert_close(x.grad, x.detach().sum(1, keepdim=True) - x.detach())


# ------------------------------------------------------------------------------------------------ attention


def attention_by_hand(query, context, Wq, Wk, Wv, num_heads, scale, key_mask=None):
    """``softmax(Q K^T / scale) V`` per contiguous head chunk, in numpy; masked keys get weight 0."""
    Q, K, V = query @ Wq.T, context @ Wk.T, context @ Wv.T
    head = Q.shape[-1] // num_heads
    out = np.zeros_like(Q)
    for b in range(Q.shape[0]):
        for h in range(num_heads):
            cols = slice(h * head, (h + 1) * head)
            scores = Q[b][:, cols] @ K[b][:, cols].T / scale
            if key_mask is not None:
                scores = np.where(key_mask[b], scores, -np.inf)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            out[b][:, cols] = (weights / weights.sum(-1, keepdims=True)) @ V[b][:, cols]
    return out


def weights_of(attention):
    return [getattr(attention, name).weight.detach().double().numpy() for name in ("W_q", "W_k", "W_v")]


@pytest.mark.parametrize("num_heads, use_scale", [(1, False), (2, True), (4, True), (2, False)])
def test_self_attention_equals_softmax_qk_v_per_head(num_heads, use_scale):
    torch.manual_seed(0)
    attention = MultiHeadAttention(6, 8, num_heads, bias=False, use_scale=use_scale).double()
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    scale = np.sqrt(8 // num_heads) if use_scale else 1.0
    expected = attention_by_hand(x.numpy(), x.numpy(), *weights_of(attention), num_heads, scale)
    np.testing.assert_allclose(attention(x, x).detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_cross_attention_with_a_key_mask_and_biases():
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 4, 2).double()  # biased projections, scaled, as InterFormer's
    with torch.no_grad():
        for name in ("W_q", "W_k", "W_v"):
            getattr(attention, name).bias.normal_()
    query, context = torch.randn(3, 2, 4, dtype=torch.float64), torch.randn(3, 6, 4, dtype=torch.float64)
    mask = torch.rand(3, 6, generator=torch.Generator().manual_seed(1)) < 0.5
    mask[:, 0] = True  # every query sees a key
    biases = [getattr(attention, name).bias.detach().numpy() for name in ("W_q", "W_k", "W_v")]
    Wq, Wk, Wv = weights_of(attention)
    # A bias is a constant input feature: fold it into the weights.
    ones = lambda t: np.concatenate([t.numpy(), np.ones(t.shape[:-1] + (1,))], axis=-1)  # noqa: E731
    folded = [np.concatenate([W, b[:, None]], axis=1) for W, b in zip((Wq, Wk, Wv), biases)]
    expected = attention_by_hand(ones(query), ones(context), *folded, 2, np.sqrt(2), mask.numpy()[:, None, :])
    out = attention(query, context, mask).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    # A masked key's value has no influence.
    changed = context.clone()
    changed[~mask] = 100.0
    np.testing.assert_allclose(attention(query, changed, mask).detach().numpy(), out, rtol=1e-10, atol=1e-12)


def test_attention_matches_torch_scaled_dot_product_attention_on_split_heads():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 8, 2).eval()
    x = torch.randn(4, 5, 8)
    q, k, v = (W(x).view(4, 5, 2, 4).transpose(1, 2) for W in (attention.W_q, attention.W_k, attention.W_v))
    expected = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(4, 5, 8)
    torch.testing.assert_close(attention(x, x), expected)


def test_attention_dropout_acts_in_training_only():
    torch.manual_seed(0)
    plain = MultiHeadAttention(4, 4, 2)
    dropped = MultiHeadAttention(4, 4, 2, dropout=0.5)
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(3, 5, 4)
    torch.testing.assert_close(dropped.eval()(x, x), plain.eval()(x, x))
    assert not torch.allclose(dropped.train()(x, x), plain(x, x))


def test_attention_passes_gradients_and_checks_the_heads():
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 6, 3).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: attention(t, t), (x,))
    assert_every_parameter_gets_a_gradient(attention, attention(x, x).square().sum())
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiHeadAttention(4, 6, 4)


# ---------------------------------------------------------------------------------------------- linear term


@pytest.mark.parametrize("bias", [False, True])
def test_linear_term_is_a_weighted_sum_of_every_embedding_entry(bias):
    torch.manual_seed(0)
    term = LinearTerm(3, 4, bias=bias).double()
    xavier_init(term)  # it is a Linear: the CTR initialisation reaches it (zero bias)
    with torch.no_grad():
        if bias:
            term.bias.fill_(0.25)
    E = torch.randn(5, 3, 4, dtype=torch.float64)
    w = term.weight.detach().numpy()[0]
    expected = [sum(w[f * 4 + d] * E[b, f, d].item() for f in range(3) for d in range(4)) + 0.25 * bias
                for b in range(5)]
    out = term(E)
    assert out.shape == (5, 1) and (term.bias is not None) == bias
    np.testing.assert_allclose(out.detach().numpy()[:, 0], expected, rtol=1e-12)
    torch.testing.assert_close(term(E.flatten(1)), out)  # a flattened input reads the same
    E.requires_grad_(True)
    assert_every_parameter_gets_a_gradient(term, term(E).sum())
    torch.testing.assert_close(E.grad, term.weight.detach().view(1, 3, 4).expand(5, 3, 4))


# ------------------------------------------------------------------------------ the networks use the shared blocks


def test_each_network_uses_the_shared_blocks():
    layout = (SequenceSlot(1, 0),)
    build = lambda name: create_student(name, 4, 4, {}, layout)  # noqa: E731
    assert all(isinstance(layer, MultiHeadAttention) for layer in build("autoint").attention)
    interformer = build("interformer")
    assert isinstance(interformer.cross_archs[0].pma, MultiHeadAttention)
    assert isinstance(interformer.sequence_archs[0].attention, MultiHeadAttention)
    assert isinstance(interformer.interaction_archs[0].dots, PairwiseDotProduct)
    assert isinstance(build("pnn").inner_products, PairwiseDotProduct)
    assert isinstance(build("dhen").layers[0].interactions[0].dots, PairwiseDotProduct)
    for name in ("wide_deep", "xdeepfm", "deepfm"):
        assert isinstance(build(name).linear, LinearTerm)
