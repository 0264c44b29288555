"""The documentation site builds in strict mode: broken links, missing pages and docstring errors fail it."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(importlib.util.find_spec(m) for m in ("mkdocs", "material", "mkdocstrings_handlers")),
        reason="the docs extra is not installed (pip install 'skctr[docs]')",
    ),
]


def build(project: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_site_builds_strictly(tmp_path):
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "estimators" / "index.html").read_text()
    # The estimators' shared parameters are filled into their docstrings at import time: the API pages show them,
    # and no brace escaped for str.format is left over from the template.
    assert "embedding_dim" in api and "{core_parameters}" not in api and "{{" not in api


def test_a_broken_link_fails_the_build(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", project / "docs")
    with open(project / "docs" / "getting-started.md", "a") as page:
        page.write("\nSee [a page that does not exist](nowhere.md).\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "nowhere.md" in result.stderr
