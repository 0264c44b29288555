"""Quickstart: fit an ensemble on a raw DataFrame, score it, keep its best student, save it.

Run: python examples/quickstart.py   (Frappe when ../shared/data is present, synthetic data otherwise;
a few minutes on two CPU cores, seconds on a GPU)
"""
import joblib
from sklearn.metrics import log_loss, roc_auc_score

from _setup import fast_params, load_splits, output_folder
from skctr import KDEFClassifier

(X_train, y_train), (X_valid, y_valid), (X_test, y_test) = load_splits()[0]

# The raw DataFrame goes in as it is: KDEFClassifier fits a FieldEncoder on it (kept as encoder_).
model = KDEFClassifier(n_students=3, random_state=0, **fast_params())
model.fit(X_train, y_train, eval_set=(X_valid, y_valid))
print("validation AUC and logloss of the ensemble and of each student:")
print(model.student_scores_.round(4))

proba = model.predict_proba(X_test)[:, 1]
print(f"test AUC {roc_auc_score(y_test, proba):.4f}, logloss {log_loss(y_test, proba):.4f}")

# One student network alone, a fitted estimator in its own right: cheaper to serve.
student = model.best_student_
student_proba = student.predict_proba(X_test)[:, 1]
print(f"best student #{model.best_student_index_}: test AUC {roc_auc_score(y_test, student_proba):.4f}")

path = output_folder() / "kdef.joblib"
joblib.dump(model, path)
assert (joblib.load(path).predict_proba(X_test)[:, 1] == proba).all()
print(f"saved to {path}; joblib.load gives identical predictions")
