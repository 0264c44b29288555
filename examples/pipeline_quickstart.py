"""The whole workflow on synthetic impressions: Pipeline, GridSearchCV, joblib and best_student_.

Run: python examples/pipeline_quickstart.py   (about two minutes on two CPU cores)
"""
import tempfile
from pathlib import Path

import joblib
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from skctr import FieldEncoder, KDEFClassifier, make_ctr

X, y, truth = make_ctr(n_samples=60_000, cardinality=(5, 200), missing_rate=0.02, return_truth=True, random_state=0)
X_train, X_new, y_train, y_new, _, truth_new = train_test_split(X, y, truth, test_size=0.25, random_state=0)

pipe = Pipeline([("fields", FieldEncoder(min_frequency=2)), ("clf", KDEFClassifier(n_students=3, random_state=0))])
pipe.fit(X_train, y_train)
print("validation scores of the ensemble and each student:")
print(pipe[-1].student_scores_.round(4))

proba = pipe.predict_proba(X_new)[:, 1]
print(f"held-out AUC {roc_auc_score(y_new, proba):.4f} (the true click probabilities reach {roc_auc_score(y_new, truth_new):.4f})")

# Serving one student: the shared embedding plus the best student network.
student = pipe[-1].best_student_
print(f"best student #{pipe[-1].best_student_index_}: AUC {roc_auc_score(y_new, student.predict_proba(pipe[:-1].transform(X_new))[:, 1]):.4f}")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "model.joblib"
    joblib.dump(pipe, path)
    assert (joblib.load(path).predict_proba(X_new)[:, 1] == proba).all()
    print(f"joblib round trip: identical predictions ({path.stat().st_size / 1e6:.1f} MB)")

# Hyper-parameter search over the ensemble's dropout, scored by AUC (short runs to keep the example quick).
search = GridSearchCV(
    Pipeline([("fields", FieldEncoder()), ("clf", KDEFClassifier(n_students=2, max_epochs=3, random_state=0))]),
    {"clf__dropout": [0.1, 0.3]},
    scoring="roc_auc",
    cv=2,
)
search.fit(X_train[:20_000], y_train[:20_000])
print(f"GridSearchCV best dropout {search.best_params_['clf__dropout']} (CV AUC {search.best_score_:.4f})")
