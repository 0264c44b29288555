"""Pure-torch networks: field embedding, students and ensemble frameworks (no skorch needed).

Every framework module maps ``(ids, values)`` to ``(prediction_logit (B,),
member_logits (B, K))`` and has ``loss(output, y)``; its ``embedding``
attribute(s) carry the tables that the training loop regularises.
"""
from .cetnet import CETNet, cetnet_loss, symmetric_kl
from .embedding import FieldEmbedding
from .final_net import FINALNet
from .growth import grown_optimizer_state, grown_state
from .kdef import KDEF, KNOWLEDGE_MODES, TEACHER_MODES, kdef_loss, teacher_logit
from .layers import MLPBlock, xavier_init
from .single import SingleNetwork
from .tf4ctr import TF4CTR, twin_focus_loss
from .students import available_students, create_student, register_student

__all__ = [
    "CETNet",
    "KDEF",
    "KNOWLEDGE_MODES",
    "TEACHER_MODES",
    "FINALNet",
    "FieldEmbedding",
    "MLPBlock",
    "SingleNetwork",
    "TF4CTR",
    "available_students",
    "cetnet_loss",
    "create_student",
    "grown_optimizer_state",
    "grown_state",
    "kdef_loss",
    "register_student",
    "symmetric_kl",
    "teacher_logit",
    "twin_focus_loss",
    "xavier_init",
]
