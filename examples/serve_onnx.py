"""Serve a best student outside Python's training stack: an ONNX graph plus the vocabulary as JSON.

Run: python examples/serve_onnx.py   (needs the onnx extra: pip install "skctr[onnx]")
A server in any language encodes raw rows with the JSON (docs/vocabulary_format.md) and feeds the graph;
here skctr's reference reader of that JSON and ONNX Runtime play the server.
"""
import time

import numpy as np
import onnxruntime

from _setup import fast_params, load_splits, output_folder
from skctr import KDEFClassifier
from skctr.preprocessing import VocabularyEncoder
from skctr.serving import export_onnx

(X_train, y_train), (X_valid, y_valid), (X_test, _) = load_splits()[0]
model = KDEFClassifier(random_state=0, **fast_params()).fit(X_train, y_train, eval_set=(X_valid, y_valid))

folder = output_folder()
graph = export_onnx(model, folder / "best_student.onnx", student=True)
vocabulary = model.encoder_.save_vocabulary(folder / "best_student.vocabulary.json")
print(f"wrote {graph} ({graph.stat().st_size / 1e6:.1f} MB) and {vocabulary}")

# The "server": the JSON alone encodes raw rows; ONNX Runtime runs the graph.
encoder = VocabularyEncoder(vocabulary)
session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
inputs = [i.name for i in session.get_inputs()]
ids, values = encoder.transform(X_test)
served = session.run(["probability"], {name: {"ids": ids, "values": values}[name] for name in inputs})[0]

expected = model.best_student_.predict_proba(X_test)[:, 1]
print(f"largest difference from best_student_.predict_proba on {len(X_test)} rows: {np.abs(served - expected).max():.2e}")
assert np.allclose(served, expected, atol=1e-5)

one = {name: {"ids": ids[:1], "values": values[:1]}[name] for name in inputs}
session.run(None, one)
start = time.perf_counter()
for _ in range(200):
    session.run(None, one)
print(f"one request: {(time.perf_counter() - start) / 200 * 1e3:.3f} ms in ONNX Runtime (encoding not included)")
