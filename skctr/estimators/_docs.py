"""Numpydoc for the parameters every estimator shares, written from each class's own signature."""
from __future__ import annotations

import inspect

#: Description of each shared parameter; the type line and the default come from the class's signature.
SHARED_PARAMETERS = {
    "prediction": ('{"auto", "ensemble", "best_student"}', """What the fitted model predicts with. ``"auto"`` is the ensemble
unless its best member (``best_student_``) has the higher validation AUC
after training, in which case that member's calibrated prediction is the
model's: a fusion that came out worse than one of its own members is never
served. ``"ensemble"`` always uses the fusion, ``"best_student"`` always the
member. ``prediction_`` says which was chosen; ``student_scores_`` keeps
the fusion's own scores in its ``"ensemble"`` row, and exports
(:func:`skctr.serving.export_onnx`) serve what ``predict_proba`` does."""),
    "embedding_dim": ("int", "Width of every field embedding."),
    "hidden_units": ("sequence of int", "Hidden layer widths of the MLP networks."),
    "dropout": ("float", "Dropout rate after each hidden layer."),
    "batch_norm": ('"auto" or bool', """Batch normalisation before each hidden activation. ``"auto"`` turns it
on when ``fit`` trains on 100,000 rows or more: there it gains AUC (Frappe),
while on smaller sets it loses (Criteo-10K, MovieLens; measured in
docs/defaults.md). The choice is ``batch_norm_``; a warm start keeps the
fitted one."""),
    "lr": ("float", """Initial Adam learning rate; divided by 10 (down to 1e-6) when the
validation AUC has not improved for ``patience - 1`` epochs in a row."""),
    "batch_size": ('"auto" or int', """Rows per training step. ``"auto"`` gives every epoch about 32 steps:
the power of two nearest ``n_rows / 32``, between 256 and 4096 (4096 from
about 100,000 training rows on), so a small data set still trains for
enough steps to learn its ids. The choice is ``batch_size_``."""),
    "max_epochs": ("int", "Upper bound on epochs; early stopping usually ends training first."),
    "patience": ("int", """Stop after this many consecutive epochs without validation-AUC gain;
the best epoch's weights are restored. The learning rate is divided by 10
on the miss before the last (the second of three by default), so one
noisy epoch does not end training at the full rate; ``patience=2`` is the
published recipe (cut on the first miss, stop on the second)."""),
    "embedding_l2": ("float", """Coefficient of ``embedding_l2 / 2 * sum(W**2)`` over the whole
embedding tables, added to every training step's loss (the CTR
benchmarks' embedding regulariser; it matters a lot on sparse ids)."""),
    "valid_size": ("float", """Fraction of the training rows held out, stratified, for early stopping
when ``fit`` gets no ``eval_set``."""),
    "class_weight": ('dict, "balanced" or None', """Weights of the classes, as scikit-learn's classifiers take them:
a dict ``{label: weight}``, or ``"balanced"`` (``n_samples / (2 *
count)``). They multiply ``fit``'s ``sample_weight`` in every loss
term and in the held-out rows' validation scores and calibration."""),
    "negative_sampling_rate": ("float in (0, 1] or None", """The fraction of non-clicks the training data kept (all clicks kept),
the industrial negative downsampling. Predictions are corrected back to
the full distribution, ``q = p / (p + (1 - p) / r)`` (He et al., 2014):
a shift of ``log(r)`` on the calibrated logit of the prediction and of
every member, so ``best_student_`` and the exported graphs carry it.
Validation scores (``student_scores_``, ``history_``) describe the
sampled data, as the held-out rows are. The equivalent weighting route
is ``sample_weight = 1 / r`` on the kept non-clicks (without this
parameter)."""),
    "calibrate": ("bool", """After training, fit a scale and a shift of the logit (Platt scaling)
of the prediction and of every member on the validation data. Ranking
(AUC) is unchanged; logloss improves, since a network early-stopped on
AUC has trained past its logloss optimum and is overconfident."""),
    "warm_start": ("bool", """When True, ``fit`` on a fitted model continues from its weights on the
new data instead of starting over: raw rows grow ``encoder_`` (ids
first seen get new embedding rows, learned rows are kept, see
:meth:`FieldEncoder.partial_fit`), encoded rows must come from the
fitted encoder grown the same way. Adam's moments carry over (grown
with the tables, zero for new rows: a fresh Adam's first steps would
jolt every weight by about ``lr``); the learning-rate schedule and
early stopping start afresh at ``lr`` (a rate below the one that
trained the model from scratch suits fine-tuning, e.g. a third), and an
epoch must beat the starting weights' validation AUC or those weights
are kept. Validation scores, calibration and ``best_student_`` are
fitted anew; ``history_`` holds this fit's epochs."""),
    "sparse_embeddings": ('"auto" or bool', """Train the embedding tables row-sparse: each step looks rows up with
sparse gradients, penalises (``embedding_l2``) the rows the batch used
rather than the whole tables, each weighted by the steps since it was last
penalised (what the whole-table penalty would have given it meanwhile),
and updates only those rows with lazy Adam
(:class:`skctr.nn.optim.LazyAdam`: Adam on the rows a batch used, the
others left alone, their moments kept in bfloat16: one table's worth).
A step then costs what the batch touched instead of the tables' size.
``"auto"`` turns it on for tables of 100,000 rows or more (all fields
together), where it is faster; smaller tables train dense, as the
published baselines did. Under
torchrun (data-parallel) the sparse gradients are averaged over the
processes after backward and the penalty reads the whole batch's rows,
so two processes train the model one process would."""),
    "device": ('{"auto", "cpu", "cuda"} or str', """``"auto"`` uses CUDA when available. A model trained on a GPU
unpickles and predicts on a CPU-only machine."""),
    "mixed_precision": ('{None, "bf16", "fp16"}', """Run the networks' forward passes in bfloat16 or float16 through
``torch.autocast`` (losses and predictions stay float32/float64);
``"fp16"`` also scales the loss against gradient underflow. Meant for
CUDA (bf16 on Ampere or newer); it is applied on a CPU too, where it
is only fast with native bf16 support."""),
    "random_state": ("int, RandomState or None", """Seeds weight initialisation, dropout, shuffling and the validation
split. With an int, CPU training is reproducible at a fixed torch
thread count (``torch.get_num_threads()``): another thread count sums
in another order, and early stopping can then pick another epoch."""),
    "verbose": ("int", "0 is silent; 1 prints a table row per epoch and a progress bar."),
    "callbacks": ("list of skorch callbacks or None", "Extra skorch callbacks, run after the built-in ones."),
}


def shared_parameters_doc(cls) -> str:
    """The Parameters entries of the shared parameters, in signature order, each with the class's own default."""
    signature = inspect.signature(cls.__init__)
    entries = []
    for name, parameter in signature.parameters.items():
        if name not in SHARED_PARAMETERS:
            continue
        kind, description = SHARED_PARAMETERS[name]
        body = "\n".join(f"        {line}" for line in description.splitlines())
        entries.append(f"    {name} : {kind}, default={parameter.default!r}\n{body}")
    return "\n".join(entries)


def fill_doc(cls):
    """Class decorator: put the shared parameters' documentation where the docstring says ``{core_parameters}``."""
    cls.__doc__ = cls.__doc__.replace("    {core_parameters}", shared_parameters_doc(cls))
    return cls
