"""Training and prediction throughput of DeepCTR-Torch and FuxiCTR against the bare torch loop; writes docs/libraries.md.

Usage: python benchmarks/libraries.py [--epochs 2] [--repeats 3] [--rows N] [--libraries deepctr fuxictr]
       [--device auto] [--data ../shared/data]
The network is the one of benchmarks/throughput.py (embedding 16, MLP [400, 400, 400] with batch norm,
dropout 0.2, ReLU, one logit; Adam lr 1e-3, batch 4096) on the first ROWS rows of the Frappe training split,
and the ceiling is that script's bare torch loop, run here again so each ratio compares figures from one run.
Each library goes through its public API as a user would call it: DeepCTR-Torch's ``fit``/``predict`` on the
ids FieldEncoder made for the bare loop (encoding not timed); FuxiCTR from the raw columns through its own
FeatureProcessor, build_dataset, FeatureMap and RankDataLoader (timed once, reported apart, not in the
training figure), then ``fit``/``predict``. A library that does not import is reported as not installed.
Medians over repeats, interleaved. FuxiCTR's loaders run on Ray, which stays up once started, so run it
on an idle machine.
"""
from __future__ import annotations

import argparse
import builtins
import importlib
import importlib.metadata
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import torch

from skctr import FieldEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from throughput import BATCH, NETWORK, ROOT, bare_loop, sync  # noqa: E402

# key: (display name, import name, distribution, pinned version)
LIBRARIES = {
    "deepctr": ("DeepCTR-Torch", "deepctr_torch", "deepctr-torch", "0.3.0"),
    "fuxictr": ("FuxiCTR", "fuxictr", "fuxictr", "2.3.10"),
}
EMBEDDING_L2 = 0.05  # the bare loop's penalty: 0.05 * (half the sum of squares of the embedding tables)


def deepctr_fit(spec, ids, y, epochs, device, seed=0):
    """Seconds of DeepCTR-Torch ``fit`` for ``epochs`` epochs and of ``predict`` on every row.

    DeepCTR-Torch has no plain-DNN model; WDL with no wide columns is one: its linear part is then a zero
    logit, so the output is the MLP's last layer plus the prediction layer's bias.
    """
    from deepctr_torch.inputs import SparseFeat
    from deepctr_torch.models import WDL

    # Frappe's fields are all single-valued categoricals: one id column each, in field order.
    columns = [SparseFeat(field.name, field.vocab_size, NETWORK["embedding_dim"]) for field in spec]
    x = {field.name: ids[:, j] for j, field in enumerate(spec)}
    model = WDL(
        [], columns, dnn_hidden_units=NETWORK["hidden_units"], dnn_dropout=NETWORK["dropout"],
        dnn_use_bn=NETWORK["batch_norm"], dnn_activation="relu",
        l2_reg_embedding=EMBEDDING_L2 / 2,  # DeepCTR-Torch's L2 has no half
        seed=seed, device=str(device),
    )
    model.compile("adam", "binary_crossentropy")  # torch's Adam defaults: lr 1e-3
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)  # verbose=1 only adds a progress bar
    sync(device)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(x, batch_size=BATCH)  # its default batch is 256
    return train_seconds, time.perf_counter() - start


def fuxictr_dnn():
    """A FuxiCTR ``BaseModel`` made of the package's FeatureEmbedding and MLP_Block.

    The pip package ships no DNN (FuxiCTR's model zoo lives in its repository, outside the wheel), so the
    network is assembled here from the package's own layers, the way its models are.
    """
    from fuxictr.pytorch.layers import FeatureEmbedding, MLP_Block
    from fuxictr.pytorch.models import BaseModel

    class DNN(BaseModel):
        def __init__(self, feature_map, **kwargs):
            super().__init__(feature_map, model_id="DNN", **kwargs)
            self.embedding = FeatureEmbedding(feature_map, NETWORK["embedding_dim"])
            self.mlp = MLP_Block(
                feature_map.sum_emb_out_dim(), list(NETWORK["hidden_units"]),  # it concatenates a list
                hidden_activations="ReLU", output_dim=1, dropout_rates=NETWORK["dropout"],
                batch_norm=NETWORK["batch_norm"],
            )
            self.compile("adam", "binary_crossentropy", lr=1e-3)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            logit = self.mlp(self.embedding(self.get_inputs(inputs), flatten_emb=True))
            return {"y_pred": self.output_activation(logit)}

    return DNN


def fuxictr_prepare(frame, folder):
    """FuxiCTR's data pipeline on the raw frame: seconds, the FeatureMap and the train, validation and predict loaders.

    The validation loader holds one batch, as skctr's eval_set in benchmarks/throughput.py: FuxiCTR's ``fit``
    evaluates every epoch and fails without one.
    """
    from fuxictr.features import FeatureMap
    from fuxictr.preprocess import FeatureProcessor, build_dataset
    from fuxictr.pytorch.dataloaders import RankDataLoader

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # a few INFO lines per dataset pass, every epoch
    raw = Path(folder) / "raw"
    raw.mkdir()
    # Writing the slice to disk is staging for a file-based pipeline, not FuxiCTR's work: untimed.
    frame.to_parquet(raw / "train.parquet")
    frame.sample(min(BATCH, len(frame)), random_state=0).to_parquet(raw / "valid.parquet")
    feature_cols = [
        {"name": name, "active": True, "type": "categorical", "dtype": "int" if frame[name].dtype.kind in "iu" else "str"}
        for name in frame.columns.drop("label")
    ]
    start = time.perf_counter()
    processor = FeatureProcessor(
        feature_cols=feature_cols, label_col={"name": "label", "dtype": "float"}, dataset_id="frappe",
        data_root=str(Path(folder) / "data"),
    )
    train_path, valid_path, _ = build_dataset(
        processor, train_data=str(raw / "train.parquet"), valid_data=str(raw / "valid.parquet"), data_format="parquet",
    )
    feature_map = FeatureMap("frappe", processor.data_dir)
    feature_map.load(processor.json_file, {"embedding_dim": NETWORK["embedding_dim"]})
    loaders = dict(batch_size=BATCH, data_format="parquet")
    train_gen, valid_gen = RankDataLoader(
        feature_map, stage="train", train_data=train_path, valid_data=valid_path, **loaders
    )
    predict_gen = RankDataLoader(feature_map, stage="test", test_data=train_path, **loaders)
    return time.perf_counter() - start, feature_map, train_gen, valid_gen, predict_gen


def fuxictr_fit(prepared, model_root, epochs, device, seed=0):
    """Seconds of FuxiCTR ``fit`` for ``epochs`` epochs and of ``predict`` on every row, on prepared loaders."""
    feature_map, train_gen, valid_gen, predict_gen = prepared
    torch.manual_seed(seed)
    model = fuxictr_dnn()(
        feature_map, gpu=(device.index or 0) if device.type == "cuda" else -1, model_root=str(model_root),
        verbose=0, metrics=["AUC"], embedding_regularizer=EMBEDDING_L2,
        early_stop_patience=epochs + 1,  # out of reach, so it trains every epoch like the bare loop
    )
    Path(model.model_dir).mkdir(parents=True, exist_ok=True)  # fit checkpoints there but does not create it
    start = time.perf_counter()
    model.fit(train_gen, epochs=epochs, validation_data=valid_gen)  # clips gradient norms at 10, as the bare loop
    sync(device)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(predict_gen)
    return train_seconds, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None, help="use the first ROWS training rows (default: all)")
    parser.add_argument("--libraries", nargs="+", choices=list(LIBRARIES), default=list(LIBRARIES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "libraries.md"))
    args = parser.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    train = pd.read_parquet(Path(args.data) / "frappe" / "train.parquet")
    if args.rows:
        train = train.head(args.rows)
    features = train.drop(columns="label")
    y = train["label"].to_numpy("float32")
    X = FieldEncoder().fit_transform(features)
    ids, values = X.field_spec.split_columns(X)
    ids_tensor, values_tensor = (torch.as_tensor(a).to(device) for a in (ids, values))
    y_tensor = torch.tensor(y, device=device)

    # Importing the libraries replaces builtins.print (Ray's logging does), which breaks pickling of anything that
    # holds print, skorch's PrintLog among them, for the rest of the process: restore it when done.
    original_print = builtins.print
    versions = {}
    for key in args.libraries:
        _, module, distribution, _ = LIBRARIES[key]
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        versions[key] = importlib.metadata.version(distribution)

    folder = tempfile.TemporaryDirectory()
    result = {"device": str(device), "rows": len(y), "epochs": args.epochs, "repeats": args.repeats}
    if "fuxictr" in versions:
        seconds, *fuxictr_prepared = fuxictr_prepare(train, folder.name)
        result["fuxictr_prepare_seconds"] = round(seconds, 2)
    runs = {"bare": [], **{key: [] for key in versions}}
    for repeat in range(args.repeats):  # interleaved, so drifting machine load hits all alike
        runs["bare"].append(bare_loop(X.field_spec, ids_tensor, values_tensor, y_tensor, args.epochs, device, repeat))
        if "deepctr" in versions:
            runs["deepctr"].append(deepctr_fit(X.field_spec, ids, y, args.epochs, device, repeat))
        if "fuxictr" in versions:
            runs["fuxictr"].append(fuxictr_fit(fuxictr_prepared, folder.name, args.epochs, device, repeat))
    if "fuxictr" in versions:
        import ray  # started by FuxiCTR's loaders; its processes would outlive a caller's main()

        ray.shutdown()
    folder.cleanup()
    builtins.print = original_print

    n = len(y)
    for key, times in runs.items():
        result[f"{key}_train_samples_per_s"] = round(n * args.epochs / statistics.median(t[0] for t in times))
        result[f"{key}_predict_samples_per_s"] = round(n / statistics.median(t[1] for t in times))
    for key in versions:
        result[f"{key}_version"] = versions[key]
        for phase in ("train", "predict"):
            ratio = result[f"{key}_{phase}_samples_per_s"] / result[f"bare_{phase}_samples_per_s"]
            result[f"{key}_{phase}_ratio"] = round(ratio, 3)
        print(f"{LIBRARIES[key][0]} train {result[f'{key}_train_ratio']:.2f}x, predict {result[f'{key}_predict_ratio']:.2f}x")
    print(json.dumps(result), flush=True)

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    command = f"python benchmarks/libraries.py --epochs {args.epochs} --repeats {args.repeats}"
    command += f" --rows {args.rows}" if args.rows else ""
    command += f" --libraries {' '.join(args.libraries)}" if args.libraries != list(LIBRARIES) else ""
    rows = {
        "deepctr": "DeepCTR-Torch `WDL` without wide columns, `fit` / `predict`",
        "fuxictr": "FuxiCTR `BaseModel` DNN (FeatureEmbedding + MLP_Block), `fit` / `predict`",
    }
    lines = [
        "# Throughput of DeepCTR-Torch and FuxiCTR against a bare torch loop",
        "",
        "DNN [400, 400, 400] (BN, dropout 0.2, ReLU), embedding 16, batch 4096, Adam lr 1e-3, Frappe train split",
        f"({n:,} rows), {args.epochs} epochs, median of {args.repeats} interleaved repeats; {device_name}; {date.today()}.",
        f"Produced by `{command}`.",
        "",
        "| loop | version | training samples/s | prediction samples/s | training / bare | prediction / bare |",
        "|---|---|---|---|---|---|",
        f"| bare torch loop of benchmarks/throughput.py (ceiling) | torch {torch.__version__} "
        f"| {result['bare_train_samples_per_s']:,} | {result['bare_predict_samples_per_s']:,} | 1 | 1 |",
    ]
    for key in args.libraries:
        name, _, distribution, pinned = LIBRARIES[key]
        if key in versions:
            version = versions[key] if versions[key] == pinned else f"{versions[key]} (benchmark pinned {pinned})"
            lines.append(
                f"| {rows[key]} | {version} | {result[f'{key}_train_samples_per_s']:,} "
                f"| {result[f'{key}_predict_samples_per_s']:,} | {result[f'{key}_train_ratio']}x | {result[f'{key}_predict_ratio']}x |"
            )
        else:
            lines.append(f"| {name}: not installed (`pip install {distribution}=={pinned}`) | | | | | |")
    lines += [
        "",
        "The bare loop trains on tensors made once, batches by slicing, embedding L2 0.05 and gradient-norm clipping",
        "at 10. Both libraries get the same embedding L2 (FuxiCTR `embedding_regularizer=0.05`, DeepCTR-Torch",
        "`l2_reg_embedding=0.025`, its L2 having no half); FuxiCTR clips at 10 by default, DeepCTR-Torch does not clip.",
        "",
        "DeepCTR-Torch: `SparseFeat` columns over the ids FieldEncoder made for the bare loop (encoding not timed),",
        "`WDL([], columns, dnn_hidden_units=(400, 400, 400), dnn_dropout=0.2, dnn_use_bn=True)`: with no wide columns",
        "its linear logit is zero, leaving the DNN. Timed: `model.fit(x, y, batch_size=4096, epochs=..., verbose=0)`",
        "after `model.compile(\"adam\", \"binary_crossentropy\")` (its `fit` stacks the columns into one float tensor and",
        "batches it through a shuffling torch DataLoader), and `model.predict(x, batch_size=4096)`.",
        "",
        "FuxiCTR: the wheel has no DNN (the model zoo is in its repository), so the network is a `BaseModel` subclass",
        "built from the package's `FeatureEmbedding` and `MLP_Block`. Data preparation, timed once and not counted in",
        "training: `FeatureProcessor` on the raw columns, `build_dataset` (vocabularies, then a Ray transform to",
        "parquet), `FeatureMap.load` and `RankDataLoader`s for training, validation and prediction (Ray Data parquet",
        "readers): " + (f"{result['fuxictr_prepare_seconds']} s, Ray's start-up included." if "fuxictr" in versions else "not run here."),
        "Timed: `model.fit(train_gen, epochs=..., validation_data=valid_gen)`, which evaluates AUC on a one-batch",
        "validation loader every epoch, checkpoints the best weights and reloads them at the end (as skctr's `fit`",
        "in benchmarks/throughput.py validates on one batch), and `model.predict` over every training row.",
        "",
        "```",
        json.dumps(result),
        "```",
        "",
    ]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
