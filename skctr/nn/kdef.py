"""KDEF: the knowledge-driven ensemble framework (docs/algorithms.md, "KDEF").

K students read one shared field embedding. The abstract teacher is the
students' collective prediction. Students learn from the labels, from the
detached teacher (knowledge distillation, KD) and from their detached peers
(deep mutual learning, DML); the examination mechanism weights the KD terms by
a softmin over the students' batch soft-accuracy, so weaker students are
taught more, and each student's DML terms by a softmax over its peers'
scores, so it learns more from better peers.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fields import FieldSpec
from .embedding import FieldEmbedding
from .students import create_student
from .students.fused_mlp import FusedMLPStudents
from .students.mlp import MLPStudent
from .weighting import bce_with_logits, weighted_mean

KNOWLEDGE_MODES = ("kdef", "kd", "dml", "none")
TEACHER_MODES = ("logit_mean", "prob_mean")


def teacher_logit(student_logits: torch.Tensor, teacher: str = "logit_mean") -> torch.Tensor:
    """The abstract teacher's logit from student logits (B, K).

    ``"logit_mean"`` is sigma(mean of logits) as in the reference code;
    ``"prob_mean"`` is the mean of probabilities as in the paper, returned as
    its logit, computed stably in log space.
    """
    if teacher == "logit_mean":
        return student_logits.mean(dim=1)
    if teacher == "prob_mean":
        log_k = torch.log(torch.tensor(float(student_logits.shape[1]), device=student_logits.device))
        log_p = torch.logsumexp(F.logsigmoid(student_logits), dim=1) - log_k
        log_not_p = torch.logsumexp(F.logsigmoid(-student_logits), dim=1) - log_k
        return log_p - log_not_p
    raise ValueError(f"teacher must be one of {TEACHER_MODES}, got {teacher!r}.")


def kdef_loss(
    student_logits: torch.Tensor,
    y: torch.Tensor,
    *,
    knowledge: str = "kdef",
    examination: bool = True,
    teacher: str = "logit_mean",
    sample_weight: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """KDEF's training loss and its parts.

    Parameters
    ----------
    student_logits : Tensor (B, K)
    y : Tensor (B,) of 0/1 labels
    knowledge : {"kdef", "kd", "dml", "none"}
        Which knowledge terms are on (the paper's ablations; ``"none"`` is
        mean fusion of independently trained students).
    examination : bool
        False sets every KD and DML weight to 1 (the paper's "w/o EM").
    teacher : {"logit_mean", "prob_mean"}
    sample_weight : Tensor (B,), optional
        Per-sample weights: every batch mean (the label BCE, the soft
        accuracies the examination reads, the KD and DML distances) becomes a
        weighted mean, so a weight of k counts a row k times.

    Returns
    -------
    dict with ``loss`` (the total), ``label``, ``kd``, ``dml`` and ``scores``
    (the examination score of each student, shape (K,)).
    """
    if knowledge not in KNOWLEDGE_MODES:
        raise ValueError(f"knowledge must be one of {KNOWLEDGE_MODES}, got {knowledge!r}.")
    y = y.to(student_logits.dtype).reshape(-1, 1)
    n_students = student_logits.shape[1]
    probs = torch.sigmoid(student_logits)
    w = sample_weight
    # Mean over batch and students equals (1/K) * sum_k BCE_mean(p_k, y).
    label = bce_with_logits(student_logits, y.expand_as(student_logits), w)
    # Soft accuracy per student over the batch; deliberately not detached (reference behaviour).
    scores = weighted_mean(1.0 - (y - probs).abs(), w)
    zero = student_logits.new_zeros(())
    kd = dml = zero
    if knowledge in ("kdef", "kd"):
        target = torch.sigmoid(teacher_logit(student_logits, teacher)).detach().unsqueeze(1)
        per_student = weighted_mean((probs - target).square(), w)
        weights = torch.softmax(-scores, dim=0) if examination else torch.ones_like(scores)
        kd = (weights * per_student).sum()
    if knowledge in ("kdef", "dml") and n_students > 1:
        # distances[i, k] = MSE(p_i, sg(p_k)): the learner i against its peer k.
        distances = weighted_mean((probs.unsqueeze(2) - probs.detach().unsqueeze(1)).square(), w)
        off_diagonal = ~torch.eye(n_students, dtype=torch.bool, device=probs.device)
        if examination:
            gaps = scores.unsqueeze(0) - scores.unsqueeze(1)
            weights = torch.softmax(gaps.masked_fill(~off_diagonal, float("-inf")), dim=1)
        else:
            weights = off_diagonal.to(probs.dtype)
        dml = (weights * distances).sum(dim=1).mean()
    return {"loss": label + kd + dml, "label": label, "kd": kd, "dml": dml, "scores": scores}


class KDEF(nn.Module):
    """The KDEF network: one shared :class:`FieldEmbedding` and K students.

    Forward returns ``(teacher_logit (B,), student_logits (B, K))``.

    Parameters
    ----------
    field_spec : FieldSpec
    embedding_dim : int
    students : sequence of str or (str, dict)
        Registry names of the students, optionally with their own parameters.
    shared_params : mapping, optional
        Hyper-parameters (``hidden_units``, ``dropout``, ``batch_norm``) given
        to every student that accepts them, under its own parameters.
    knowledge, examination, teacher
        See :func:`kdef_loss`.
    fuse : bool, default=False
        Run identical MLP students as one batched computation
        (:class:`~skctr.nn.students.fused_mlp.FusedMLPStudents`); ignored for
        heterogeneous students. Same results; it pays on GPUs, where K small
        kernels cost K launches. On a CPU the arithmetic is the same either way.
    """

    def __init__(
        self,
        field_spec: FieldSpec,
        embedding_dim: int,
        students: Sequence,
        *,
        shared_params: Mapping | None = None,
        knowledge: str = "kdef",
        examination: bool = True,
        teacher: str = "logit_mean",
        fuse: bool = False,
    ):
        super().__init__()
        if knowledge not in KNOWLEDGE_MODES:
            raise ValueError(f"knowledge must be one of {KNOWLEDGE_MODES}, got {knowledge!r}.")
        if teacher not in TEACHER_MODES:
            raise ValueError(f"teacher must be one of {TEACHER_MODES}, got {teacher!r}.")
        self.embedding = FieldEmbedding(field_spec, embedding_dim)
        layout = self.embedding.sequence_layout
        built = [create_student(spec, len(field_spec), embedding_dim, shared_params, layout) for spec in students]
        fusable = len(built) > 1 and all(isinstance(s, MLPStudent) and s.student_params == built[0].student_params for s in built)
        if fuse and fusable:
            self.students, self.fused = None, FusedMLPStudents(built, len(field_spec), embedding_dim)
        else:
            self.students, self.fused = nn.ModuleList(built), None
        self.knowledge = knowledge
        self.examination = examination
        self.teacher = teacher

    def forward(self, ids: torch.Tensor, values: torch.Tensor):
        embeddings, sequences = self.embedding(ids, values, return_sequences=True)
        if self.fused is not None:
            student_logits = self.fused(embeddings)
        else:
            student_logits = torch.stack([student(embeddings, sequences) for student in self.students], dim=1)
        return teacher_logit(student_logits, self.teacher), student_logits

    @property
    def n_students(self) -> int:
        return self.fused.n_students if self.fused is not None else len(self.students)

    def student(self, index: int) -> nn.Module:
        """Student ``index`` as a module of its own (a copy when the students are fused)."""
        return self.fused.unfuse(index) if self.fused is not None else self.students[index]

    def loss(self, output, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        return kdef_loss(output[1], y, knowledge=self.knowledge, examination=self.examination, teacher=self.teacher,
                         sample_weight=sample_weight)["loss"]
