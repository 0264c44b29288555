"""K identical MLP students as one batched computation."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .mlp import MLPStudent
from .registry import create_student, explicit_spec


def _layers_of(student: MLPStudent):
    linears = [m for m in student.mlp.layers if isinstance(m, nn.Linear)]
    norms = [m for m in student.mlp.layers if isinstance(m, nn.BatchNorm1d)]
    return linears, norms


class FusedMLPStudents(nn.Module):
    """Runs K MLP students of one architecture as stacked weights and batched matrix products.

    Layer 1 reads the shared flattened embedding, so it is a single product with
    all K students' weights side by side; deeper layers are one batched product
    over the K students. Batch normalisation over the K*width concatenated units
    is per-student batch normalisation (its statistics are per unit), and dropout
    draws independent masks for every unit as the loop does. With the same
    weights the outputs and gradients equal the loop's (up to float rounding).
    Built from existing students, so initialisation is exactly theirs.

    Forward maps the field embedding (B, F, D) to student logits (B, K).
    """

    def __init__(self, students: Sequence[MLPStudent], num_fields: int, embedding_dim: int):
        super().__init__()
        self.num_fields, self.embedding_dim = num_fields, embedding_dim
        first = students[0]
        if not all(isinstance(s, MLPStudent) and s.student_params == first.student_params for s in students):
            raise ValueError("FusedMLPStudents needs MLP students with identical parameters.")
        self.student_params = dict(first.student_params)
        self.n_students = len(students)
        per_student = [_layers_of(s) for s in students]
        n_linear = len(per_student[0][0])
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([linears[i].weight.detach().T for linears, _ in per_student]).clone())
            for i in range(n_linear)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([linears[i].bias.detach() for linears, _ in per_student]).clone())
            for i in range(n_linear)
        )
        self.norms = nn.ModuleList()
        for i in range(len(per_student[0][1])):
            parts = [norms[i] for _, norms in per_student]
            fused = nn.BatchNorm1d(sum(p.num_features for p in parts), eps=parts[0].eps, momentum=parts[0].momentum)
            with torch.no_grad():
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(fused, name).copy_(torch.cat([getattr(p, name) for p in parts]))
            self.norms.append(fused)
        self.dropout = nn.Dropout(explicit_spec(first)[1]["dropout"])

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        x = embeddings.flatten(1)
        batch, k = x.shape[0], self.n_students
        first = self.weights[0]
        h = (x @ first.permute(1, 0, 2).reshape(first.shape[1], -1)).view(batch, k, -1) + self.biases[0]
        for i in range(len(self.weights)):
            if i > 0:
                h = torch.einsum("bki,kio->bko", h, self.weights[i]) + self.biases[i]
            if i == len(self.weights) - 1:
                break
            if self.norms:
                h = self.norms[i](h.reshape(batch, -1)).view(batch, k, -1)
            h = self.dropout(torch.relu(h))
        return h.squeeze(-1)

    def unfuse(self, index: int) -> MLPStudent:
        """Student ``index`` as a standalone MLPStudent with a copy of its weights and norm statistics."""
        student = create_student(("mlp", self.student_params), self.num_fields, self.embedding_dim)
        linears, norms = _layers_of(student)
        with torch.no_grad():
            for layer, weight, bias in zip(linears, self.weights, self.biases):
                layer.weight.copy_(weight[index].T)
                layer.bias.copy_(bias[index])
            for layer, fused in zip(norms, self.norms):
                width = layer.num_features
                part = slice(index * width, (index + 1) * width)
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(layer, name).copy_(getattr(fused, name)[part])
                layer.num_batches_tracked.copy_(fused.num_batches_tracked)
        return student
