"""ONNX and TorchScript export: the served graph predicts what ``predict_proba`` predicts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import make_pipeline

from skctr import (
    CETNetClassifier,
    FieldEncoder,
    FINALClassifier,
    KDEFClassifier,
    StudentClassifier,
    TF4CTRClassifier,
    make_ctr,
)
from skctr.serving import export_onnx, export_torchscript, serving_module

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install skctr[onnx])")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install skctr[onnx])")

SMALL = dict(hidden_units=(16,), max_epochs=2, batch_size=512, device="cpu", random_state=0)
MODELS = {
    "student": lambda: StudentClassifier(**SMALL),
    "kdef": lambda: KDEFClassifier(n_students=2, **SMALL),
    "final": lambda: FINALClassifier(blocks=2, block2_hidden_units=(8,), **SMALL),
    "tf4ctr": lambda: TF4CTRClassifier(simple_hidden_units=(8,), **SMALL),
    "cetnet": lambda: CETNetClassifier(**SMALL),
}


@pytest.fixture(scope="module")
def frame():
    X, y = make_ctr(n_samples=2000, random_state=0)
    rng = np.random.RandomState(0)
    X["price"] = rng.lognormal(size=len(X))
    X.loc[X.index[::13], "price"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def fitted(frame):
    X, y = frame
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = MODELS[kind]().fit(X, y)
        return cache[kind]

    return get


def run_onnx(path, estimator, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids, values = estimator.field_spec_.split_columns(estimator.encoder_.transform(X))
    feeds = {"ids": ids, "values": values}
    names = [i.name for i in session.get_inputs()]
    return session.run(["probability"], {name: feeds[name] for name in names})[0], names


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("student", [False, True], ids=["model", "best_student"])
def test_onnx_matches_predict_proba(kind, student, fitted, frame, tmp_path):
    X, _ = frame
    model = fitted(kind)
    if student and kind == "student":
        pytest.skip("a single network has no best_student_")
    path = export_onnx(model, tmp_path / "model.onnx", student=student)
    served = model.best_student_ if student else model
    # A different batch size from the export's example: the batch dimension is dynamic.
    probability, names = run_onnx(path, served, X.iloc[:333])
    assert names == ["ids", "values"]
    assert probability.dtype == np.float32 and probability.shape == (333,)
    np.testing.assert_allclose(probability, served.predict_proba(X.iloc[:333])[:, 1], atol=1e-5, rtol=0)


def test_categorical_only_model_takes_ids_alone(tmp_path):
    X, y = make_ctr(n_samples=1500, random_state=1)
    model = StudentClassifier(**SMALL).fit(X, y)
    probability, names = run_onnx(export_onnx(model, tmp_path / "m.onnx"), model, X)
    assert names == ["ids"]
    np.testing.assert_allclose(probability, model.predict_proba(X)[:, 1], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_sequence_networks_export(tmp_path):
    """DIN and CETNet's default sequence components (InterFormer, DHEN) read padded histories and masks."""
    rng = np.random.RandomState(0)
    n = 1500
    X = pd.DataFrame({
        "user": rng.randint(0, 50, n).astype(str),
        "item": rng.randint(0, 80, n).astype(str),
        "history": [list(rng.randint(0, 80, rng.randint(0, 8)).astype(str)) for _ in range(n)],
    })
    y = ((X["item"].astype(int) % 3 == 0) ^ (rng.rand(n) < 0.2)).astype(int).to_numpy()
    encoder = FieldEncoder(sequence={"history": {"target": "item", "max_len": 6}})
    for model in (StudentClassifier(student="din", **SMALL), CETNetClassifier(**SMALL)):
        pipe = make_pipeline(encoder, model).fit(X, y)
        path = export_onnx(pipe, tmp_path / "seq.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ids, _ = model.field_spec_.split_columns(pipe[0].transform(X))
        probability = session.run(["probability"], {"ids": ids})[0]
        np.testing.assert_allclose(probability, pipe.predict_proba(X)[:, 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["kdef", "cetnet"])
def test_torchscript_matches_predict_proba(kind, fitted, frame, tmp_path):
    X, _ = frame
    model = fitted(kind)
    for student in (False, True):
        served = model.best_student_ if student else model
        module = torch.jit.load(str(export_torchscript(model, tmp_path / "m.pt", student=student)))
        ids, values = served.field_spec_.split_columns(served.encoder_.transform(X))
        probability = module(torch.from_numpy(ids), torch.from_numpy(values)).numpy()
        np.testing.assert_allclose(probability, served.predict_proba(X)[:, 1], atol=1e-5, rtol=0)


def test_export_leaves_the_estimator_untouched(fitted, frame, tmp_path):
    X, _ = frame
    model = fitted("kdef")
    before = model.predict_proba(X)
    export_onnx(model, tmp_path / "m.onnx")
    module, _ = serving_module(model)
    assert module.network is not model.net_.module_
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_errors(fitted, tmp_path):
    with pytest.raises(TypeError, match="skctr estimator"):
        export_onnx(FieldEncoder(), tmp_path / "x.onnx")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        export_onnx(KDEFClassifier(), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="no best_student_"):
        export_onnx(fitted("student"), tmp_path / "x.onnx", student=True)
