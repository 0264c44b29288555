"""KDEF, TF4CTR and CETNet on one data set, each against its own best student, in a plot.

Run: python examples/compare_estimators.py   (writes compare_estimators.png)
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import log_loss, roc_auc_score  # noqa: E402

from _setup import SMALL, fast_params, load_splits, output_folder  # noqa: E402
from skctr import CETNetClassifier, KDEFClassifier, TF4CTRClassifier  # noqa: E402

((X_train, y_train), (X_valid, y_valid), (X_test, y_test)), name = load_splits()
models = {
    "KDEF": KDEFClassifier(random_state=0, **fast_params()),
    "TF4CTR": TF4CTRClassifier(random_state=0, **fast_params()),
    "CETNet": CETNetClassifier(random_state=0, **fast_params()),
}
rows = []
for label, model in models.items():
    model.fit(X_train, y_train, eval_set=(X_valid, y_valid))
    for who, estimator in (("ensemble", model), ("best student", model.best_student_)):
        p = estimator.predict_proba(X_test)[:, 1]
        rows.append((label, who, roc_auc_score(y_test, p), log_loss(y_test, p)))
        print(f"{label:7s} {who:12s} test AUC {rows[-1][2]:.4f}  logloss {rows[-1][3]:.4f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, column, title in ((axes[0], 2, "test AUC (higher is better)"), (axes[1], 3, "test logloss (lower is better)")):
    for offset, who in ((-0.2, "ensemble"), (0.2, "best student")):
        values = [r[column] for r in rows if r[1] == who]
        ax.bar([i + offset for i in range(len(models))], values, width=0.4, label=who)
    ax.set_xticks(range(len(models)), list(models))
    ax.set_title(title)
    low = min(r[column] for r in rows)
    high = max(r[column] for r in rows)
    ax.set_ylim(low - (high - low) - 1e-3, high + (high - low) + 1e-3)
axes[0].legend()
# A small run (a sample, two epochs) says nothing about the full-data ranking: say so on the plot.
fig.suptitle(f"{name}{' (small run)' if SMALL else ''}: ensembles and their best students")
fig.tight_layout()
path = output_folder() / "compare_estimators.png"
fig.savefig(path, dpi=120)
print(f"wrote {path}")
