"""Bad input to the ``skctr`` command line, as a new user would give it.

Every user error is one line on stderr, ``skctr <command>: error: ...``, naming the option, column or file at
fault, with its exit code (2 command line, 3 data, 4 model file, 130 interrupted), and nothing is written:
no output file, no temporary file.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from skctr import FieldEncoder, KDEFClassifier, StudentClassifier, make_ctr
from skctr import cli
from skctr.cli import CommandError, main

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "student", "--param", "max_epochs=1", "--param", "batch_size=64", "--param", "hidden_units=(8,)"]
FIT = {"hidden_units": (8,), "max_epochs": 1, "batch_size": 64, "random_state": 0}


def run_cli(*args, cwd, code=None, **popen):
    """``skctr ARGS`` in a fresh interpreter (or ``python -c CODE ARGS``), as a shell script runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, *(["-c", code] if code else ["-m", "skctr.cli"]), *map(str, args)]
    if popen:
        return subprocess.Popen(command, cwd=cwd, env=env, text=True, **popen)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def check_error(err: str, command: str, *names: str, kind: str = "error") -> None:
    """One line, no traceback, naming every one of ``names``."""
    assert err.startswith(f"skctr {command}: {kind}: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for name in names:
        assert name in err, (name, err)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A folder of small tables: good ones (0/1 and yes/no labels, a numeric column n0) and bad ones."""
    X, y = make_ctr(n_samples=400, cardinality=(5, 30), n_numeric=1, random_state=3)
    frame = X.assign(label=y.astype(int))
    folder = tmp_path_factory.mktemp("bad_input")
    frame.to_parquet(folder / "train.parquet", index=False)
    frame.to_csv(folder / "train.csv", index=False)
    frame.assign(label=np.where(y, "yes", "no")).to_csv(folder / "strings.csv", index=False)
    frame.to_csv(folder / "train.txt", index=False)
    frame.assign(label=1).to_csv(folder / "one_class.csv", index=False)
    frame.drop(columns="f3").to_csv(folder / "no_f3.csv", index=False)
    frame.assign(n0="many").to_csv(folder / "n0_text.csv", index=False)
    frame.assign(f0=[{"a": 1}] * len(frame)).to_parquet(folder / "dicts.parquet", index=False)
    frame.head(0).to_csv(folder / "header_only.csv", index=False)
    frame.head(5).to_csv(folder / "five_rows.csv", index=False)
    (folder / "empty.csv").write_text("")
    (folder / "empty.parquet").write_bytes(b"")
    (folder / "binary.csv").write_bytes(b"\x00\x01\xff\xfe\x80 not text")
    (folder / "a_file").write_text("a file, not a folder")
    return folder, frame


@pytest.fixture(scope="module")
def models(data):
    """Fitted models (0/1 labels, yes/no labels, an ensemble) and model files that are no fitted skctr model."""
    folder, frame = data
    X, y = frame.drop(columns="label"), frame["label"]
    joblib.dump(StudentClassifier(**FIT).fit(X, y), folder / "student.joblib")
    joblib.dump(StudentClassifier(**FIT).fit(X, np.where(y, "yes", "no")), folder / "strings.joblib")
    joblib.dump(KDEFClassifier(n_students=2, **FIT).fit(X, y), folder / "kdef.joblib")
    joblib.dump({"weights": [1, 2, 3]}, folder / "dict.joblib")
    joblib.dump(StudentClassifier(), folder / "unfitted.joblib")
    (folder / "truncated.joblib").write_bytes((folder / "student.joblib").read_bytes()[:3000])
    return folder


@pytest.fixture
def out(tmp_path):
    """An empty folder for outputs: after a failure it must still be empty (no file, no temporary file)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def run_main(argv, capsys):
    code = main([str(a) for a in argv])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


# --------------------------------------------------------------------------- interrupts
ANNOUNCE_EPOCHS = """
import sys
import skctr.cli
from skctr.estimators._net import CTRNet

begin = CTRNet.on_epoch_begin


def announce(self, *args, **kwargs):  # tells the test that training is under way
    print("epoch", flush=True)
    return begin(self, *args, **kwargs)


CTRNet.on_epoch_begin = announce
sys.exit(skctr.cli.main())
"""


@pytest.mark.slow
def test_ctrl_c_during_training_exits_130_and_writes_nothing(out):
    X, y = make_ctr(n_samples=4000, cardinality=(5, 50), random_state=0)
    X.assign(label=y.astype(int)).to_parquet(out.parent / "big.parquet", index=False)
    process = run_cli("train", "--data", out.parent / "big.parquet", *TINY, "--param", "max_epochs=10000",
                      "--param", "patience=10000", "--out", out / "m.joblib", "--quiet", cwd=out.parent,
                      code=ANNOUNCE_EPOCHS, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline() == "epoch\n"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr == "skctr train: interrupted: nothing written\n"
    assert "trained" not in stdout
    assert not any(out.iterdir())


@pytest.mark.parametrize("command", ["train", "predict"])
def test_interrupt_anywhere_is_130_and_one_line(command, data, models, out, monkeypatch, capsys):
    folder, _ = data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(StudentClassifier, "fit" if command == "train" else "predict_proba", interrupted)
    argv = (["train", "--data", folder / "train.csv", *TINY, "--out", out / "m.joblib"] if command == "train" else
            ["predict", "--model", models / "student.joblib", "--data", folder / "train.csv", "--out", out / "s.csv"])
    code, stdout, err = run_main(argv, capsys)
    assert code == 130 and stdout == ""
    check_error(err, command, "nothing written", kind="interrupted")
    assert not any(out.iterdir())


# --------------------------------------------------------------------------- outputs probed before any work
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux's /proc, which not even root can write")
def test_unwritable_out_fails_at_once_in_a_shell(data, out):
    folder, _ = data
    result = run_cli("train", "--data", folder / "train.csv", *TINY, "--out", "/proc/skctr-model.joblib", cwd=out)
    assert result.returncode == 3 and result.stdout == ""  # before training: nothing trained, nothing printed
    check_error(result.stderr, "train", "--out", "/proc")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_fails_at_once_in_a_shell(data, models, out):
    folder, _ = data
    out.chmod(0o555)
    try:
        result = run_cli("predict", "--model", models / "student.joblib", "--data", folder / "train.csv",
                         "--out", out / "s.csv", cwd=out.parent)
    finally:
        out.chmod(0o755)
    assert result.returncode == 3 and result.stdout == ""
    check_error(result.stderr, "predict", "--out", "cannot write in the folder", str(out))
    assert not any(out.iterdir())


def unwritable(kind: str, folder: Path) -> Path:
    """A folder no one can write in: /proc, or a path under a regular file."""
    if kind == "proc":
        if not os.path.isdir("/proc"):
            pytest.skip("needs Linux's /proc")
        return Path("/proc")
    return folder / "a_file"


@pytest.mark.parametrize("kind", ["proc", "under_a_file"])
@pytest.mark.parametrize("command", ["train", "predict", "export", "demo"])
def test_unwritable_outputs_are_refused_before_any_work(command, kind, data, models, capsys, monkeypatch):
    folder, _ = data
    target = unwritable(kind, folder)
    monkeypatch.setattr(StudentClassifier, "fit", lambda *a, **k: pytest.fail("trained before checking --out"))
    monkeypatch.setattr(cli, "make_ctr", lambda *a, **k: pytest.fail("made data before checking --output"))
    argv = {
        "train": ["train", "--data", folder / "train.csv", *TINY, "--out", target / "m.joblib"],
        "predict": ["predict", "--model", models / "student.joblib", "--data", folder / "train.csv",
                    "--out", target / "s.csv"],
        "export": ["export", "--model", models / "student.joblib", "--out", target / "m.pt"],
        "demo": ["demo", "--output", target / "demo.joblib"],
    }[command]
    code, stdout, err = run_main(argv, capsys)
    assert code == 3 and stdout == ""
    check_error(err, command, "--output" if command == "demo" else "--out", str(target))


def test_export_vocabulary_that_is_a_folder_writes_no_graph(models, out, capsys):
    (out / "m.vocabulary.json").mkdir()
    code, _, err = run_main(["export", "--model", models / "student.joblib", "--out", out / "m.pt"], capsys)
    assert code == 3
    check_error(err, "export", "--out", "m.vocabulary.json is a folder")
    assert [p.name for p in out.iterdir()] == ["m.vocabulary.json"]


# --------------------------------------------------------------------------- atomic writes
def test_atomic_renames_on_success_and_removes_on_failure(out):
    target = out / "scores.csv.gz"
    with cli._atomic(target) as temporary:
        assert temporary.parent == out and temporary.name.endswith("scores.csv.gz")  # same suffix, same format
        temporary.write_text("done")
    assert target.read_text() == "done" and [p.name for p in out.iterdir()] == ["scores.csv.gz"]
    with pytest.raises(RuntimeError), cli._atomic(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("a bug while writing")
    assert target.read_text() == "done" and [p.name for p in out.iterdir()] == ["scores.csv.gz"]


def half_written(error):
    """A writer, called as ``write(..., path)``, that fails after writing part of its file."""
    def write(*args):
        Path(args[-1]).write_bytes(b"partial")
        raise error
    return write


@pytest.mark.parametrize("error, code", [(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), 3),
                                         (KeyboardInterrupt(), 130)])
def test_failed_predict_write_leaves_no_file(error, code, data, models, out, monkeypatch, capsys):
    folder, _ = data
    monkeypatch.setattr(cli, "_write_frame", half_written(error))
    code_, _, err = run_main(["predict", "--model", models / "student.joblib", "--data", folder / "train.csv",
                              "--out", out / "s.csv"], capsys)
    assert code_ == code
    if code == 3:
        check_error(err, "predict", "--out", "cannot write", "s.csv", "No space left on device")
    assert not any(out.iterdir())


def test_failed_overwrite_keeps_the_old_file(data, models, out, monkeypatch, capsys):
    folder, _ = data
    (out / "s.csv").write_text("old scores")
    monkeypatch.setattr(cli, "_write_frame", half_written(OSError(errno.EIO, os.strerror(errno.EIO))))
    code, _, err = run_main(["predict", "--model", models / "student.joblib", "--data", folder / "train.csv",
                             "--out", out / "s.csv", "--force"], capsys)
    assert code == 3
    check_error(err, "predict", "--out")
    assert (out / "s.csv").read_text() == "old scores" and [p.name for p in out.iterdir()] == ["s.csv"]


def test_interrupted_model_write_in_train_leaves_no_file(data, out, monkeypatch, capsys):
    folder, _ = data
    monkeypatch.setattr(cli.joblib, "dump", half_written(KeyboardInterrupt()))
    code, stdout, err = run_main(["train", "--data", folder / "train.csv", *TINY, "--out", out / "m.joblib"], capsys)
    assert code == 130 and "trained StudentClassifier" in stdout
    check_error(err, "train", "nothing written", kind="interrupted")
    assert not any(out.iterdir())


def test_export_writes_graph_and_vocabulary_or_neither(models, out, monkeypatch, capsys):
    monkeypatch.setattr(FieldEncoder, "save_vocabulary", half_written(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    code, _, err = run_main(["export", "--model", models / "student.joblib", "--out", out / "m.pt"], capsys)
    assert code == 3
    check_error(err, "export", "--out", "m.vocabulary.json")
    assert not any(out.iterdir())


# --------------------------------------------------------------------------- which label the score is
def test_predict_says_which_label_the_score_is(data, models, out, capsys):
    folder, frame = data
    X = frame.drop(columns="label")
    model = joblib.load(models / "strings.joblib")
    argv = ["predict", "--model", models / "strings.joblib", "--data", folder / "strings.csv", "--label", "label"]
    code, stdout, _ = run_main([*argv, "--out", out / "yes.csv"], capsys)
    assert code == 0 and "score is P(label == 'yes')" in stdout  # the label that sorts last
    np.testing.assert_allclose(pd.read_csv(out / "yes.csv")["score"], model.predict_proba(X)[:, 1], rtol=1e-6)
    code, stdout, _ = run_main([*argv, "--out", out / "no.csv", "--positive-label", "no"], capsys)
    assert code == 0 and "score is P(label == 'no')" in stdout
    np.testing.assert_allclose(pd.read_csv(out / "no.csv")["score"], model.predict_proba(X)[:, 0], rtol=1e-6)


def test_positive_label_matches_int_classes_by_their_string(data, models, out, capsys):
    folder, frame = data
    model = joblib.load(models / "kdef.joblib")
    X = frame.drop(columns="label")
    code, stdout, _ = run_main(["predict", "--model", models / "kdef.joblib", "--data", folder / "train.csv",
                                "--label", "label", "--students", "--positive-label", "0", "--out", out / "s.csv"],
                               capsys)
    assert code == 0 and "score is P(label == 0)" in stdout
    written = pd.read_csv(out / "s.csv")
    np.testing.assert_allclose(written["score"], model.predict_proba(X)[:, 0], rtol=1e-6)
    np.testing.assert_allclose(written[["score_student_0", "score_student_1"]],
                               1 - model.predict_proba_students(X), rtol=1e-6)


def test_evaluate_with_the_other_positive_label(data, models, capsys):
    folder, _ = data
    argv = ["evaluate", "--model", models / "strings.joblib", "--data", folder / "strings.csv", "--json"]
    code, stdout, _ = run_main(argv, capsys)
    default = json.loads(stdout)
    code_no, stdout, _ = run_main([*argv, "--positive-label", "no"], capsys)
    assert code == code_no == 0
    # AUC and logloss do not change when both the positive class and the score flip.
    assert json.loads(stdout)["model"] == pytest.approx(default["model"])


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_positive_label_that_is_no_class(command, data, models, out, monkeypatch, capsys):
    folder, _ = data
    monkeypatch.setattr(StudentClassifier, "fit", lambda *a, **k: pytest.fail("trained before checking the label"))
    argv = {
        "train": ["train", "--data", folder / "strings.csv", *TINY, "--out", out / "m.joblib"],
        "evaluate": ["evaluate", "--model", models / "strings.joblib", "--data", folder / "strings.csv"],
        "predict": ["predict", "--model", models / "strings.joblib", "--data", folder / "strings.csv",
                    "--out", out / "s.csv"],
    }[command]
    code, _, err = run_main([*argv, "--positive-label", "maybe"], capsys)
    assert code == 3
    check_error(err, command, "--positive-label", "'maybe'", "['no', 'yes']")
    assert not any(out.iterdir())


def test_two_classes_with_one_string_form_are_ambiguous():
    with pytest.raises(CommandError, match=r"--positive-label: '1' matches several of the classes \[1, '1'\]"):
        cli._positive_index(np.array([1, "1"], dtype=object), "1")
    assert cli._positive_index(np.array([False, True]), "False") == 0
    assert cli._positive_index(np.array([0, 1]), None) == 1


# --------------------------------------------------------------------------- bad numbers are usage errors
@pytest.mark.parametrize("args, option", [
    (["demo", "--n-samples", "0"], "--n-samples"),
    (["demo", "--n-samples", "-100"], "--n-samples"),
    (["demo", "--n-samples", "1e3"], "--n-samples"),
    (["demo", "--n-students", "0"], "--n-students"),
    (["demo", "--max-epochs", "0"], "--max-epochs"),
    (["demo", "--test-size", "0"], "--test-size"),
    (["demo", "--test-size", "1"], "--test-size"),
    (["demo", "--test-size", "1.5"], "--test-size"),
    (["demo", "--test-size", "nan"], "--test-size"),
    (["demo", "--test-size", "half"], "--test-size"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--verbose", "-1"], "--verbose"),
    (["train", "--data", "x.csv", "--out", "m.joblib", "--seed", "-1"], "--seed"),
    (["train", "--data", "x.csv", "--out", "m.joblib", "--seed", "4294967296"], "--seed"),
])
def test_numbers_out_of_range_are_usage_errors(args, option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    check_error(capsys.readouterr().err, args[0], f"argument {option}: expected")


@pytest.mark.slow
@pytest.mark.parametrize("args, code, names", [
    (["demo", "--n-samples", "0"], 2, ["argument --n-samples", "at least 1", "skctr demo --help"]),
    (["train", "--data", "nowhere.csv", "--out", "m.joblib"], 3, ["--data", "nowhere.csv"]),
    (["evaluate", "--model", "{folder}/truncated.joblib", "--data", "{folder}/train.csv"], 4,
     ["--model", "truncated.joblib"]),
])
def test_exit_codes_in_a_shell(args, code, names, models, out):
    result = run_cli(*[a.format(folder=models) for a in args], cwd=out)
    assert result.returncode == code and result.stdout == ""
    check_error(result.stderr, args[0], *names)
    assert not any(out.iterdir())


# --------------------------------------------------------------------------- every other user error
CUDA_ABSENT = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize("args, code, names", [
    # train: the data
    (["train", "--data", "{folder}/empty.csv"], 3, ["--data", "cannot read", "empty.csv"]),
    (["train", "--data", "{folder}/empty.parquet"], 3, ["--data", "cannot read", "empty.parquet"]),
    (["train", "--data", "{folder}/header_only.csv"], 3, ["--data", "header_only.csv has no rows"]),
    (["train", "--data", "{folder}/binary.csv"], 3, ["--data", "cannot read", "binary.csv"]),
    (["train", "--data", "{folder}/train.txt"], 3, ["--data", "expected a .parquet", "train.txt"]),
    (["train", "--data", "{folder}/train.csv", "--label", "click"], 3, ["--label", "'click'", "train.csv"]),
    (["train", "--data", "{folder}/one_class.csv"], 3, ["--label", "must hold two classes", "got 1"]),
    (["train", "--data", "{folder}/train.parquet", "--valid", "{folder}/no_f3.csv"], 3,
     ["--valid", "['f3']", "no_f3.csv"]),
    (["train", "--data", "{folder}/train.parquet", "--valid", "{folder}/n0_text.csv"], 3,
     ["--data/--valid", "'n0'"]),
    (["train", "--data", "{folder}/dicts.parquet"], 3, ["--data", "unhashable"]),  # a TypeError from fit
    (["train", "--data", "{folder}/train.csv", "--groups", "user"], 3, ["--groups", "'user'", "train.csv"]),
    # train: the parameters
    (["train", "--data", "{folder}/train.csv", "--param", "learning_rate=0.1"], 3, ["--param", "'learning_rate'"]),
    (["train", "--data", "{folder}/train.csv", "--param", "lr=-1"], 3, ["--param", "'lr'"]),
    (["train", "--data", "{folder}/train.csv", "--param", f"device='{CUDA_ABSENT}'"], 3,
     ["--param", f"device='{CUDA_ABSENT}'"]),
    # evaluate
    (["evaluate", "--model", "{folder}/dict.joblib", "--data", "{folder}/train.csv"], 4,
     ["--model", "dict.joblib holds a dict"]),
    (["evaluate", "--model", "{folder}/truncated.joblib", "--data", "{folder}/train.csv"], 4,
     ["--model", "cannot load", "truncated.joblib"]),
    (["evaluate", "--model", "{folder}/unfitted.joblib", "--data", "{folder}/train.csv"], 4,
     ["--model", "unfitted.joblib holds an unfitted StudentClassifier"]),
    (["evaluate", "--model", "{folder}/student.joblib", "--data", "{folder}/no_f3.csv"], 3, ["--data", "['f3']"]),
    (["evaluate", "--model", "{folder}/student.joblib", "--data", "{folder}/header_only.csv"], 3,
     ["--data", "has no rows"]),
    # predict
    (["predict", "--model", "{folder}/student.joblib", "--data", "{folder}/n0_text.csv", "--out", "{out}/s.csv"], 3,
     ["--data", "'n0'"]),
    (["predict", "--model", "{folder}/student.joblib", "--data", "{folder}/empty.parquet", "--out", "{out}/s.csv"],
     3, ["--data", "empty.parquet"]),
    (["predict", "--model", "{folder}/unfitted.joblib", "--data", "{folder}/train.csv", "--out", "{out}/s.csv"], 4,
     ["--model", "unfitted"]),
    # demo
    (["demo", "--data", "{folder}/one_class.csv", "--output", "{out}/d.joblib"], 3, ["--label", "two classes"]),
    (["demo", "--data", "{folder}/five_rows.csv", "--output", "{out}/d.joblib"], 3, ["--test-size", "5 rows"]),
])
def test_user_errors_are_one_line_naming_the_culprit(args, code, names, data, models, out, capsys):
    folder, _ = data
    argv = [a.format(folder=folder, out=out) for a in args]
    if argv[0] == "train":
        argv += [*TINY, "--out", str(out / "m.joblib")]
    code_, stdout, err = run_main(argv, capsys)
    assert code_ == code and "wrote" not in stdout, err
    check_error(err, argv[0], *names)
    assert not any(out.iterdir())


def test_help_lists_interrupted(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "130  interrupted" in capsys.readouterr().out
