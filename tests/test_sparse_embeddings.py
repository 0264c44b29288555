"""Row-sparse embedding training: lazy Adam, the batch-rows penalty, clipping, and the estimators' sparse mode."""
from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
import torch

from skctr import (
    CETNetClassifier,
    FINALClassifier,
    KDEFClassifier,
    StudentClassifier,
    TF4CTRClassifier,
    make_ctr,
)
from skctr.estimators._data import FieldTensors
from skctr.fields import Field, FieldArray, FieldSpec
from skctr.metrics import binary_scores
from skctr.nn import FieldEmbedding
from skctr.nn.optim import LazyAdam, clip_grad_norm

SMALL = {"hidden_units": (16,), "embedding_dim": 4, "batch_size": 256, "max_epochs": 2, "random_state": 0, "device": "cpu"}


def table_and_head(rows=6, dim=3):
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(rows, dim))
    head = torch.nn.Linear(dim, 1)
    return table, head


def step(optimizer, table, head, ids, sparse):
    optimizer.zero_grad()
    head(torch.nn.functional.embedding(ids, table, sparse=sparse)).square().sum().backward()
    optimizer.step()


def test_lazy_adam_is_adam_on_the_rows_a_batch_uses():
    """Every row in every batch: lazy Adam on sparse gradients equals Adam on dense ones."""
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 2, 2])
    dense, dense_head = table_and_head()
    lazy, lazy_head = table_and_head()
    adam, lazy_adam = torch.optim.Adam([dense, *dense_head.parameters()], lr=0.05), LazyAdam([lazy, *lazy_head.parameters()], lr=0.05)
    for _ in range(4):
        step(adam, dense, dense_head, ids, False)
        step(lazy_adam, lazy, lazy_head, ids, True)
    torch.testing.assert_close(lazy, dense, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(lazy_head.weight, dense_head.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(lazy_adam.state[lazy]["exp_avg_sq"], adam.state[dense]["exp_avg_sq"], rtol=1e-5, atol=1e-9)


def test_lazy_adam_leaves_unused_rows_and_their_moments_alone():
    table, head = table_and_head()
    optimizer = LazyAdam([table, *head.parameters()], lr=0.05)
    step(optimizer, table, head, torch.tensor([0, 1, 2, 3, 4, 5]), True)
    rows, moments = table.detach().clone(), optimizer.state[table]["exp_avg"].clone()
    step(optimizer, table, head, torch.tensor([1, 1, 4]), True)
    unused = [0, 2, 3, 5]
    assert torch.equal(table.detach()[unused], rows[unused])
    assert torch.equal(optimizer.state[table]["exp_avg"][unused], moments[unused])
    assert not torch.equal(table.detach()[[1, 4]], rows[[1, 4]])


def test_bfloat16_moments_follow_float32_ones():
    """Stochastic rounding keeps the bf16 moments on the float32 trajectory; plain rounding would stall v."""
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 2, 2])
    exact, exact_head = table_and_head()
    halved, halved_head = table_and_head()
    fp32 = LazyAdam([exact, *exact_head.parameters()], lr=0.01)
    bf16 = LazyAdam([halved, *halved_head.parameters()], lr=0.01, sparse_state_dtype=torch.bfloat16)
    for _ in range(200):
        step(fp32, exact, exact_head, ids, True)
        step(bf16, halved, halved_head, ids, True)
    assert bf16.state[halved]["exp_avg_sq"].dtype == torch.bfloat16
    torch.testing.assert_close(halved, exact, rtol=0.02, atol=2e-3)
    v, v_exact = bf16.state[halved]["exp_avg_sq"].float(), fp32.state[exact]["exp_avg_sq"]
    assert float((v / v_exact - 1).abs().max()) < 0.1


def test_stochastic_rounding_to_bfloat16_is_unbiased():
    optimizer = LazyAdam([torch.nn.Parameter(torch.zeros(1))], sparse_state_dtype=torch.bfloat16)
    for value in (1.0 + 1 / 1024, -3.0 - 3 / 4096, 1e-9 * (1 + 1 / 300)):
        rounded = optimizer._stored(torch.full((100_000,), value)).float()
        assert len(rounded.unique()) == 2  # the two neighbouring bfloat16 values
        assert float(rounded.mean()) == pytest.approx(value, rel=2e-4)


def test_a_pickled_lazy_adam_keeps_its_state_dtype():
    optimizer = LazyAdam([torch.nn.Parameter(torch.zeros(2))], sparse_state_dtype=torch.bfloat16)
    assert joblib.load(dump(optimizer)).sparse_state_dtype == torch.bfloat16


def dump(obj) -> io.BytesIO:
    """``obj`` pickled by joblib, ready to load."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


def test_clipping_a_sparse_gradient_matches_clipping_its_dense_twin():
    dense, dense_head = table_and_head()
    sparse, sparse_head = table_and_head()
    ids = torch.tensor([1, 1, 3])
    for table, head, is_sparse in ((dense, dense_head, False), (sparse, sparse_head, True)):
        (10 * head(torch.nn.functional.embedding(ids, table, sparse=is_sparse))).sum().backward()
    expected = torch.nn.utils.clip_grad_norm_([dense, *dense_head.parameters()], 1.0)
    norm = clip_grad_norm([sparse, *sparse_head.parameters()], 1.0)
    torch.testing.assert_close(norm, expected)
    torch.testing.assert_close(sparse.grad.to_dense(), dense.grad)
    torch.testing.assert_close(sparse_head.weight.grad, dense_head.weight.grad)


def test_the_batch_penalty_is_half_the_squares_of_the_rows_used_once_each():
    spec = FieldSpec([Field("a", "categorical", 5), Field("b", "categorical", 4), Field("x", "numeric")])
    embedding = FieldEmbedding(spec, 2)
    embedding.sparse = True
    with torch.no_grad():
        embedding.weight.copy_(torch.arange(18, dtype=torch.float32).reshape(9, 2))
        embedding.numeric_weight.fill_(1.0)
    ids = torch.tensor([[3, 0], [3, 2], [4, 2]])  # table rows 3, 4 (field a) and 5, 7 (field b, offset 5)
    expected = 0.5 * (sum(float(np.square(np.arange(18).reshape(9, 2)[r]).sum()) for r in (3, 4, 5, 7)) + 2.0)
    penalty = embedding.l2_penalty(ids)
    assert float(penalty) == pytest.approx(expected)
    penalty.backward()
    assert embedding.weight.grad.is_sparse
    assert sorted(embedding.weight.grad.coalesce().indices()[0].tolist()) == [3, 4, 5, 7]
    assert float(embedding.l2_penalty()) == pytest.approx(0.5 * (float(np.square(np.arange(18)).sum()) + 2.0))


def test_the_batch_penalty_weighs_a_row_by_the_steps_it_missed():
    spec = FieldSpec([Field("a", "categorical", 4)])
    embedding = FieldEmbedding(spec, 1)
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
    assert float(embedding.l2_penalty(torch.tensor([[0], [1]]))) == pytest.approx(0.5 * (1 + 4))  # step 1: k = 1
    assert float(embedding.l2_penalty(torch.tensor([[1]]))) == pytest.approx(0.5 * 4)  # step 2: row 1, k = 1
    # Step 3: row 0 last penalised at step 1 (k = 2), row 3 never (k = 3), row 1 at step 2 (k = 1).
    assert float(embedding.l2_penalty(torch.tensor([[0], [3], [1]]))) == pytest.approx(0.5 * (2 * 1 + 3 * 16 + 4))
    embedding.l2_penalty()  # the whole table at step 4: every row is up to date
    assert float(embedding.l2_penalty(torch.tensor([[2]]))) == pytest.approx(0.5 * 9)


def big_table_data(n_rows=3000, vocab=120_000):
    rng = np.random.default_rng(0)
    spec = FieldSpec([Field("user", "categorical", vocab), Field("item", "categorical", 50)])
    ids = np.column_stack([rng.integers(3, vocab, n_rows), rng.integers(3, 50, n_rows)])
    y = (ids[:, 1] % 2).astype(int)
    return FieldArray(ids.astype(np.float64), spec), y


def test_auto_trains_big_tables_row_sparse_and_small_ones_dense():
    X, y = big_table_data()
    assert StudentClassifier(**SMALL).fit(X, y).net_.sparse_embeddings
    X_small, y_small = make_ctr(n_samples=1000, cardinality=(3, 30), random_state=0)
    model = StudentClassifier(**SMALL).fit(X_small, y_small)
    assert not model.net_.sparse_embeddings and not model.net_.module_.embedding.sparse


@pytest.mark.parametrize("sparse", [True, False], ids=["row-sparse", "dense"])
def test_a_sparse_step_moves_only_the_rows_of_its_batch(sparse):
    X, y = big_table_data()
    model = StudentClassifier(**SMALL, sparse_embeddings=sparse).fit(X, y)
    net = model.net_
    rows = FieldTensors.from_array(np.asarray(X[:64]), model.field_spec_, y[:64].astype(np.float32))
    batch = next(iter(net.get_iterator(rows, training=True)))
    before = net.module_.embedding.weight.detach().clone()
    net.train_step(batch)
    moved = (net.module_.embedding.weight.detach() != before).any(1)
    used = torch.unique(batch[0]["ids"] + net.module_.embedding.column_offsets)
    if sparse:
        assert set(torch.nonzero(moved).ravel().tolist()) <= set(used.tolist())
    else:
        assert moved.sum() > len(used)  # the whole-table penalty moves every row


ESTIMATORS = {
    "student": lambda: StudentClassifier(**SMALL, sparse_embeddings=True),
    "kdef": lambda: KDEFClassifier(n_students=2, **SMALL, sparse_embeddings=True),
    "tf4ctr": lambda: TF4CTRClassifier(**SMALL, sparse_embeddings=True),
    "cetnet": lambda: CETNetClassifier(**SMALL, sparse_embeddings=True),
    "final": lambda: FINALClassifier(**SMALL, sparse_embeddings=True),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_trains_row_sparse_and_continues(name):
    X, y = make_ctr(n_samples=2000, cardinality=(5, 300), random_state=0)
    X = X.astype(str)
    model = ESTIMATORS[name]().set_params(warm_start=True).fit(X[:1000], y[:1000])
    model = joblib.load(dump(model)).fit(X[1000:], y[1000:])  # new ids: the tables and lazy moments grow
    model.partial_fit(X[:500], y[:500])
    tables = [m for m in model.net_.module_.modules() if isinstance(m, FieldEmbedding)]
    assert tables and all(t.sparse for t in tables)
    assert model.predict_proba(X[:5]).shape == (5, 2)


def test_a_warm_start_may_switch_between_dense_and_sparse():
    X, y = make_ctr(n_samples=2000, cardinality=(5, 300), random_state=0)
    model = StudentClassifier(**SMALL, warm_start=True, sparse_embeddings=False).fit(X[:1000], y[:1000])
    model.set_params(sparse_embeddings=True).fit(X[1000:], y[1000:])
    model.set_params(sparse_embeddings=False).fit(X[:1000], y[:1000])
    assert np.isfinite(model.predict_proba(X[:10])).all()


@pytest.mark.slow
def test_row_sparse_training_learns_as_dense_does():
    # One small fit is too noisy to compare (AUC moves by 0.02 between seeds): the mean of three. Batch norm on,
    # where seeds spread least (without it one seed of either kind stops near 0.57).
    X, y = make_ctr(n_samples=12000, cardinality=(3, 100), noise=0.5, random_state=1)
    scores = {False: [], True: []}
    for seed in range(3):
        for sparse in (False, True):
            params = {**SMALL, "max_epochs": 10, "batch_norm": True, "random_state": seed}
            model = StudentClassifier(**params, sparse_embeddings=sparse).fit(X[:10000], y[:10000])
            scores[sparse].append(binary_scores(np.asarray(y[10000:]), model.predict_proba(X[10000:])[:, 1])[0])
    assert min(scores[True]) > 0.58
    assert abs(np.mean(scores[True]) - np.mean(scores[False])) < 0.02


def test_bf16_with_row_sparse_tables():
    X, y = big_table_data()
    model = StudentClassifier(**SMALL, sparse_embeddings=True, mixed_precision="bf16").fit(X, y)
    assert np.isfinite(model.predict_proba(X[:10])).all()


def test_a_row_sparse_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from skctr.serving import export_onnx

    X, y = big_table_data()
    model = StudentClassifier(**SMALL, sparse_embeddings=True).fit(X, y)
    path = export_onnx(model, tmp_path / "m.onnx")
    ids, _ = model.field_spec_.split_columns(np.asarray(X[:50]))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {"ids": ids, "values": np.zeros((50, 0), dtype=np.float32)}
    probability = session.run(["probability"], {n: feeds[n] for n in names})[0]
    np.testing.assert_allclose(probability.ravel(), model.predict_proba(X[:50])[:, 1], atol=1e-5)
