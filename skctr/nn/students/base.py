"""The contract every registry network follows."""
from __future__ import annotations

import torch
from torch import nn


class StudentNetwork(nn.Module):
    """Base class of the registry networks (students, encoders, components).

    A subclass takes ``num_fields`` and ``embedding_dim`` positionally, then
    keyword-only hyper-parameters; sets ``hidden_dim``; and implements
    ``forward_hidden(embeddings, sequences=None) -> (logit (B,), hidden (B, hidden_dim))``.

    ``hidden`` is what the network's readout reads: the input of its last
    Linear layer. A network whose logit adds several terms (a wide part, an FM
    term, a CIN) concatenates the inputs of every term, a scalar term as one
    column, so that a fusion reading ``hidden`` sees everything the logit does.

    A network that reads behaviour sequences sets ``reads_sequences = True``
    and takes a third positional argument ``sequence_layout`` (a tuple of
    :class:`~skctr.nn.embedding.SequenceSlot`); it then receives ``sequences``, one
    :class:`~skctr.nn.embedding.SequenceEmbedding` per slot. Every other network sees a sequence
    only as its pooled field embedding in ``embeddings`` and ignores ``sequences``.
    """

    reads_sequences = False
    hidden_dim: int

    def forward(self, embeddings: torch.Tensor, sequences=None) -> torch.Tensor:
        return self.forward_hidden(embeddings, sequences)[0]

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError
