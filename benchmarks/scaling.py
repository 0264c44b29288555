"""The KDEF paper's scaling study: ensemble and best/worst student test AUC against the number of students,
mean fusion (``knowledge="none"``) against KDEF; writes docs/kdef_scaling.md and docs/kdef_scaling.png.

Usage: python benchmarks/scaling.py [--students 1 2 4 6 10] [--rows 40000] [--max-epochs 8] [--seeds 0] [--device auto]
       python benchmarks/scaling.py --merge a.md b.md --output docs/kdef_scaling.md
Frappe_x1 (the first ROWS training rows; full validation and test splits), MLP students with the default
settings. The paper's Figs. 2, 4 and 8 show the ensemble of independently trained students (mean fusion)
saturating or degrading as students are added, while KDEF keeps improving. Run it on an idle machine.
The report is rewritten after every fit; ``--merge`` joins the raw rows of reports run in separate processes.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from skctr import KDEFClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_options, device_name, mean_std, read_json_rows  # noqa: E402

MODES = ("none", "kdef")


def run(n_students, knowledge, seed, splits, max_epochs, device="auto"):
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = splits
    model = KDEFClassifier(n_students=n_students, knowledge=knowledge, max_epochs=max_epochs, random_state=seed,
                           device=device)
    model.fit(X_train, y_train, eval_set=(X_valid, y_valid))
    students = model.predict_proba_students(X_test)
    student_auc = [roc_auc_score(y_test, students[:, k]) for k in range(n_students)]
    return {
        "students": n_students, "knowledge": knowledge, "seed": seed, "device": device_name(device),
        "rows": len(y_train), "max_epochs": max_epochs, "epochs": len(model.history_),
        "ensemble_auc": roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]),
        "best_student_auc": max(student_auc), "worst_student_auc": min(student_auc),
    }


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(rows).groupby(["knowledge", "students"]).mean(numeric_only=True).reset_index()
    fig, ax = plt.subplots(figsize=(6, 4))
    for knowledge, color in zip(MODES, ("tab:gray", "tab:blue")):
        part = frame[frame["knowledge"] == knowledge]
        label = "mean fusion" if knowledge == "none" else "KDEF"
        ax.plot(part["students"], part["ensemble_auc"], "o-", color=color, label=f"{label}: ensemble")
        ax.fill_between(part["students"], part["worst_student_auc"], part["best_student_auc"], color=color, alpha=0.2,
                        label=f"{label}: worst to best student")
    ax.set_xlabel("number of students")
    ax.set_ylabel("test AUC (Frappe)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_report(rows, output, command):
    image = output.with_suffix(".png")
    plot(rows, image)
    frame = pd.DataFrame(rows)
    settings = frame[["rows", "max_epochs", "device"]].drop_duplicates().to_dict("records")
    lines = [
        "# KDEF scaling: students against test AUC",
        "",
        "Frappe_x1 (the first training rows; full validation and test splits), MLP students, default settings;",
        "mean ± sample standard deviation over seeds. Settings: "
        + "; ".join(f"{s['rows']:,} training rows, at most {s['max_epochs']} epochs, on {s['device']}" for s in settings)
        + f"; {date.today()}.",
        f"Produced by `{command}`.",
        "",
        f"![ensemble and student AUC against the number of students]({image.name})",
        "",
        "| students | knowledge | ensemble AUC | best student AUC | worst student AUC | epochs | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for (n, knowledge), group in frame.groupby(["students", "knowledge"]):
        lines.append(
            f"| {n} | {knowledge} | {mean_std(group.ensemble_auc)} | {mean_std(group.best_student_auc)} | "
            f"{mean_std(group.worst_student_auc)} | {group.epochs.mean():.0f} | {len(group)} |"
        )
    lines += ["", "```", *[json.dumps(r) for r in rows], "```", ""]
    output.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", nargs="+", type=int, default=[1, 2, 4, 6, 10])
    parser.add_argument("--rows", type=int, default=40000)
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    add_run_options(parser, "kdef_scaling.md")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if args.merge:
        rows = [row for path in args.merge for row in read_json_rows(path)]
        write_report(rows, output, f"python benchmarks/scaling.py --merge {' '.join(Path(p).name for p in args.merge)}")
        print(f"wrote {output}")
        return
    splits = []
    for split in ("train", "valid", "test"):
        frame = pd.read_parquet(Path(args.data) / "frappe" / f"{split}.parquet")
        if split == "train":
            frame = frame.head(args.rows)
        splits.append((frame.drop(columns="label"), frame["label"].to_numpy()))
    command = (
        f"python benchmarks/scaling.py --students {' '.join(map(str, args.students))} --rows {args.rows} "
        f"--max-epochs {args.max_epochs} --seeds {' '.join(map(str, args.seeds))}"
    )
    rows = []
    for seed in args.seeds:
        for n in args.students:
            for knowledge in MODES:
                rows.append(run(n, knowledge, seed, splits, args.max_epochs, args.device))
                print(json.dumps(rows[-1]), flush=True)
                write_report(rows, output, command)
    print(f"wrote {output} and {output.with_suffix('.png')}")


if __name__ == "__main__":
    main()
