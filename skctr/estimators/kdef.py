"""KDEFClassifier: the knowledge-driven ensemble as a scikit-learn classifier."""
from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..nn import KDEF, KNOWLEDGE_MODES, TEACHER_MODES
from ..nn.students import parse_student
from ._base import CTRClassifierBase
from ._docs import fill_doc
from .._validation import interval
from ._params import CORE_CONSTRAINTS, ENSEMBLE_CONSTRAINTS
from .student import StudentClassifier, student_estimator

DEFAULT_N_STUDENTS = 3
MAX_STUDENTS = 64
#: Named student line-ups. "latest" is the paper's heterogeneous KDEF (PNN + FINAL + ECN, "KDEF_Latest").
STUDENT_PRESETS = {"latest": ("pnn", "final", "ecn")}


@fill_doc
class KDEFClassifier(CTRClassifierBase):
    """Knowledge-driven ensemble (KDEF) of student networks for CTR prediction.

    K students share one field embedding. Their collective prediction is an
    abstract teacher; each student learns from the labels, from the detached
    teacher (knowledge distillation) and from its detached peers (mutual
    learning). The examination mechanism weights the teaching: a softmin over
    the students' batch soft-accuracy for distillation (weaker students are
    taught more), a softmax over peers' scores for mutual learning (students
    learn more from better peers). All weights are derived, so the framework
    has no loss coefficients to tune. See docs/algorithms.md ("KDEF") and the KDEF paper.

    Parameters
    ----------
    n_students : int or None, default=None
        Number of students when ``students`` is a single network; None means 3.
        At most 64.
        With a list of students it must be None or equal the list's length.
    students : str, (str, dict) or list of those, default="mlp"
        The student networks by registry name, optionally with their own
        parameters, e.g. ``[("mlp", {"hidden_units": [400, 400]}), "mlp"]``,
        or a preset: ``"latest"`` is the paper's heterogeneous line-up
        ``["pnn", "final", "ecn"]``.
    knowledge : {"kdef", "kd", "dml", "none"}, default="kdef"
        Knowledge terms in the loss: both distillation and mutual learning,
        only one of them, or none (the mean-fusion baseline).
    examination : bool, default=True
        False gives every distillation and mutual-learning term weight 1.
    teacher : {"logit_mean", "prob_mean"}, default="logit_mean"
        The teacher (and the ensemble's prediction): sigmoid of the mean
        student logit, as in the reference code, or the mean probability, as
        in the paper.
    {core_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive (click) class.
    encoder_ : FieldEncoder or None
        The encoder fitted on raw input; None when ``X`` came from a FieldEncoder.
    field_spec_ : FieldSpec
        Layout of the encoded input.
    n_features_in_ : int
        Number of input columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` had string column names.
    net_ : skorch.NeuralNetBinaryClassifier
        The trained skorch net; ``net_.module_`` is the :class:`skctr.nn.KDEF` module.
    history_ : skorch.History
        Per epoch: losses, ``valid_auc``/``valid_logloss`` of the ensemble and
        ``valid_auc_student_k``/``valid_logloss_student_k`` of each student.
    batch_size_ : int
        The batch size training used (``batch_size`` with "auto" resolved).
    batch_norm_ : bool
        Whether the networks normalise (``batch_norm`` with "auto" resolved).
    student_scores_ : DataFrame
        Validation AUC and logloss of the ensemble and every student.
    calibration_ : ndarray of shape (n_students + 1, 2)
        Scale and shift applied to the logit of the ensemble (row 0) and of
        each student (identity when ``calibrate=False``).
    best_student_index_ : int
        Index of the student with the best validation AUC.
    best_student_ : StudentClassifier
        That student with the shared embedding (and encoder), a fitted
        standalone estimator: smaller and faster to serve.
    prediction_ : str
        What ``predict_proba`` returns: ``"ensemble"``, or the name of the
        member it predicts with (``best_student_``; see ``prediction``).

    See Also
    --------
    StudentClassifier : one network alone.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skctr import FieldEncoder, KDEFClassifier
    >>> from skctr.datasets import make_ctr
    >>> X, y = make_ctr(n_samples=3000, random_state=0)
    >>> pipe = make_pipeline(FieldEncoder(), KDEFClassifier(n_students=2, hidden_units=(64,), max_epochs=2, random_state=0))
    >>> pipe.fit(X, y).predict_proba(X.head(3)).shape
    (3, 2)
    >>> pipe[-1].best_student_.predict_proba(pipe[:-1].transform(X.head(3))).shape
    (3, 2)
    """

    def __init__(
        self,
        n_students=None,
        *,
        students="mlp",
        knowledge="kdef",
        examination=True,
        teacher="logit_mean",
        prediction="auto",
        embedding_dim=16,
        hidden_units=(400, 400, 400),
        dropout=0.2,
        batch_norm="auto",
        lr=1e-3,
        batch_size="auto",
        max_epochs=100,
        patience=3,
        embedding_l2=0.05,
        valid_size=0.1,
        class_weight=None,
        negative_sampling_rate=None,
        calibrate=True,
        warm_start=False,
        sparse_embeddings="auto",
        device="auto",
        mixed_precision=None,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.n_students = n_students
        self.students = students
        self.knowledge = knowledge
        self.examination = examination
        self.teacher = teacher
        self.prediction = prediction
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.embedding_l2 = embedding_l2
        self.valid_size = valid_size
        self.class_weight = class_weight
        self.negative_sampling_rate = negative_sampling_rate
        self.calibrate = calibrate
        self.warm_start = warm_start
        self.sparse_embeddings = sparse_embeddings
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _student_specs(self) -> list:
        if isinstance(self.students, str) and self.students in STUDENT_PRESETS:
            if self.n_students is not None and self.n_students != len(STUDENT_PRESETS[self.students]):
                raise ValueError(
                    f"students={self.students!r} is a line-up of {len(STUDENT_PRESETS[self.students])} networks; "
                    f"leave n_students=None (got {self.n_students})."
                )
            return list(STUDENT_PRESETS[self.students])
        single = isinstance(self.students, str) or (
            isinstance(self.students, tuple) and len(self.students) == 2 and isinstance(self.students[1], dict)
        )
        if single:
            return [self.students] * (DEFAULT_N_STUDENTS if self.n_students is None else self.n_students)
        specs = list(self.students)
        if not specs:
            raise ValueError("students must name at least one network.")
        if self.n_students is not None and self.n_students != len(specs):
            raise ValueError(
                f"n_students={self.n_students} but students lists {len(specs)} networks; "
                "leave n_students=None when listing students."
            )
        return specs

    _parameter_constraints = {
        **CORE_CONSTRAINTS,
        **ENSEMBLE_CONSTRAINTS,
        # Beyond the ablations' 10 nothing gains; the bound keeps a typo from exhausting memory.
        "n_students": [None, interval(Integral, 1, MAX_STUDENTS, "both")],
        "students": "no_validation",  # a preset, a registry spec or a list of them: _check_params
        "knowledge": [StrOptions(set(KNOWLEDGE_MODES))],
        "examination": ["boolean"],
        "teacher": [StrOptions(set(TEACHER_MODES))],
    }

    def _check_params(self):
        for spec in self._student_specs():
            parse_student(spec, "students")

    def _member_names(self):
        return [f"student_{k}" for k in range(len(self._student_specs()))]

    def _module_config(self, field_spec, device):
        return KDEF, {
            "field_spec": field_spec,
            "embedding_dim": self.embedding_dim,
            "students": self._student_specs(),
            "shared_params": self._shared_params(),
            "knowledge": self.knowledge,
            "examination": self.examination,
            "teacher": self.teacher,
            # Identical MLP students run batched on GPUs (fewer, larger kernels); on a CPU the loop is as fast.
            "fuse": device.startswith("cuda"),
        }

    def get_student(self, index: int) -> StudentClassifier:
        """Student ``index`` with the shared embedding, as a fitted standalone estimator."""
        check_is_fitted(self, "net_")
        module = self.net_.module_
        if not 0 <= index < module.n_students:
            raise IndexError(f"index must be in [0, {module.n_students}), got {index}.")
        scores = self.student_scores_.iloc[[index + 1]]
        return student_estimator(self, module.embedding, module.student(index), scores, self.calibration_[index + 1])

    def student_modules(self):
        check_is_fitted(self, "net_")
        module = self.net_.module_
        return [(name, module.student(k)) for k, name in enumerate(self._member_names())]
