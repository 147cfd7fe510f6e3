"""The documentation a contributor enters by says what the code is.

- The module's README.rst (the Apps page) is built from its readme/ fragments,
  the only copy of the admin guide and the user guide.
- Every repository path the READMEs name exists, and every ``file:name`` step
  of a flow names a function or class defined in that file, so a renamed or
  moved step fails here instead of misleading a reader.
"""

import ast
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from gen_readme import readme_rst  # noqa: E402

DOCUMENTS = [ROOT / "README.md", ROOT / "bench" / "README.md",
             *sorted((ROOT / "civimail_addon" / "readme").glob("*.md"))]
TOP_FOLDERS = ("civimail_addon/", "tests/", "tools/", "bench/", "harness/", ".ci/")
# `path` or `path:name` inside backticks or a Markdown link target.
FOLDERS = "|".join(map(re.escape, TOP_FOLDERS))
REFERENCE = re.compile(rf"[`(]((?:{FOLDERS})[\w./-]*)(?::(\w+))?[`)]")


def defined_names(path):
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def references(document):
    for line_number, line in enumerate(document.read_text().splitlines(), 1):
        for match in REFERENCE.finditer(line):
            yield line_number, match.group(1), match.group(2)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_path_and_step_named_exists(document):
    wrong = []
    for line_number, path, name in references(document):
        target = ROOT / path.rstrip("/.")
        if "*" in path or "<" in path:
            continue
        if not target.exists():
            wrong.append(f"line {line_number}: {path} does not exist")
        elif name and name not in defined_names(target):
            wrong.append(f"line {line_number}: {path} defines no {name}")
    assert not wrong, f"{document.relative_to(ROOT)}:\n" + "\n".join(wrong)


def test_feature_map_names_files_that_exist():
    """Each file or folder the README's map names is in the column's folder."""
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"^## Where each feature lives\n(.*?)(?=^## )", readme, re.M | re.S).group(1)
    header, _rule, *rows = [line for line in table.splitlines() if line.startswith("|")]
    folders = [re.search(r"`([\w/]+/)`", cell) for cell in header.strip("|").split("|")]
    assert rows, "the feature map has no rows"
    wrong = []
    for row in rows:
        cells = row.strip("|").split("|")
        for folder, cell in zip(folders, cells, strict=True):
            if not folder:
                continue
            base = ROOT / folder.group(1)
            # A name of the column ("x.py", "mailbox/"), or a file beside its folder's.
            for name in re.findall(r"`((?:\.\./)?[\w/]+(?:\.py|/))`", cell):
                if not (base / name).resolve().exists() and not any(
                        (path / name).exists() for path in base.glob("*/")):
                    wrong.append(f"{cells[0].strip()}: {folder.group(1)}{name}")
    assert not wrong, "README.md's feature map names what does not exist: " + ", ".join(wrong)


def test_flow_steps_are_defined_in_the_flow_files():
    """A bare `_step` of a README flow is defined in one of the files that flow names."""
    readme = (ROOT / "README.md").read_text()
    flows = re.findall(r"^## A \w+, step by step\n(.*?)(?=^## )", readme, re.M | re.S)
    assert flows, "README.md has no '## A …, step by step' section"
    wrong = []
    for flow in flows:
        files = re.findall(r"`(civimail_addon/[\w./-]+\.py)(?::\w+)?`", flow)
        names = set().union(*(defined_names(ROOT / path)
                              for path in files if (ROOT / path).exists()))
        wrong += [step for step in re.findall(r"`(_\w+)`", flow) if step not in names]
    assert not wrong, "README.md's flows name steps none of their files define: " + ", ".join(wrong)


def test_module_readme_is_built_from_its_fragments():
    assert shutil.which("pandoc"), "pandoc is missing: run make setup (it installs it)"
    assert (ROOT / "civimail_addon" / "README.rst").read_text() == readme_rst(), (
        "civimail_addon/README.rst differs from its readme/ fragments: "
        "edit the fragments, then run .venv/bin/python tools/gen_readme.py")
