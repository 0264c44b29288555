"""An skctr estimator inside scikit-learn's tools: Pipeline with FieldEncoder, GridSearchCV over its parameters.

Run: python examples/pipeline_grid_search.py
"""
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from _setup import SMALL, fast_params, load_splits
from skctr import FieldEncoder, TF4CTRClassifier

(X_train, y_train), _, (X_test, y_test) = load_splits()[0]

pipe = Pipeline([
    ("fields", FieldEncoder(min_frequency=2)),  # rare ids share the out-of-vocabulary index
    ("clf", TF4CTRClassifier(random_state=0, **{"max_epochs": 5, **fast_params()})),
])
grid = {"clf__dropout": [0.1, 0.3]} if SMALL else {"clf__dropout": [0.1, 0.2, 0.3], "clf__embedding_dim": [8, 16]}
search = GridSearchCV(pipe, grid, scoring="roc_auc", cv=2)
search.fit(X_train, y_train)

for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    print(f"{params}: CV AUC {score:.4f}")
print(f"best {search.best_params_}; test AUC {search.score(X_test, y_test):.4f}")
