"""The layers depend one way: skctr.nn is pure torch, and nothing below a layer imports from above it."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skctr"


def modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("statement", ["import skctr.nn", "import skctr.fields", "import skctr"])
def test_pure_torch_imports_load_no_sklearn_skorch_or_pandas(statement):
    assert not modules_loaded_by(statement) & {"skorch", "sklearn", "pandas"}


def test_the_top_level_names_still_resolve():
    import skctr

    for name in skctr.__all__:
        assert getattr(skctr, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        skctr.Nope  # noqa: B018


def imported_skctr_modules(path: Path) -> set[str]:
    """Absolute names of the skctr modules a source file imports (relative imports resolved)."""
    package = ["skctr", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *(node.module.split(".") if node.module else [])]))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("skctr")}


#: Each layer and what it may import from skctr, bottom to top.
ALLOWED = {
    "skctr/fields.py": set(),
    "skctr/_validation.py": set(),
    "skctr/preprocessing": {"skctr.fields", "skctr.preprocessing", "skctr._validation"},
    "skctr/nn/layers.py": set(),
    "skctr/nn/embedding.py": {"skctr.fields"},
}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path):
    rel = str(path.relative_to(PACKAGE.parent))
    imported = imported_skctr_modules(path)
    if rel.startswith("skctr/nn/"):
        # nn reads only the field spec and itself; inside nn, students never import the frameworks.
        assert all(m == "skctr.fields" or m.startswith("skctr.nn") for m in imported), imported
        if "/students/" in rel:
            frameworks = {"skctr.nn.kdef", "skctr.nn.tf4ctr", "skctr.nn.cetnet", "skctr.nn.final_net", "skctr.nn.single"}
            assert not imported & frameworks, imported
    for prefix, allowed in ALLOWED.items():
        if rel.startswith(prefix):
            assert all(any(m == a or m.startswith(a + ".") for a in allowed) for m in imported), imported
    if rel.startswith("skctr/preprocessing") or rel.startswith("skctr/nn"):
        assert not any(m.startswith(("skctr.estimators", "skctr.cli", "skctr.serving")) for m in imported), imported
