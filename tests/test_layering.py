"""The layers of docs/design.md, kept by scanning every import of the product's Python files.

- Nothing outside ``tui/`` imports Textual or ``tui``; ``fycli.py`` may import ``tui`` lazily
  (inside a function), so ``fycli sync`` from cron never loads Textual.
- ``schemas/`` is the shared contract: it imports none of the other packages and does no I/O.
- ``local_db/`` (the replica) knows nothing of the server or the screens; neither does ``sync/``.
- ``central/`` (the server) knows nothing of the liaison's replica, its sync client or screens.

Tests (which drive the app through Textual) and benchmarks are not product code and not scanned.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("fycli.py", "schemas", "local_db", "sync", "central", "tui")


@dataclass(frozen=True)
class Import:
    path: str  #: relative to the repo, e.g. "sync/engine.py"
    line: int
    module: str  #: the absolute module imported, e.g. "textual.app"
    in_function: bool  #: inside a function body: loaded only when the function runs
    type_checking: bool  #: under ``if TYPE_CHECKING:``: never loaded at run time

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def product_files() -> list[Path]:
    files = []
    for entry in PRODUCT:
        path = REPO / entry
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, root: Path = REPO) -> list[Import]:
    """Every import in ``path``, relative ones made absolute, with where it sits."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    rel = path.relative_to(root).as_posix()
    package = list(path.relative_to(root).parts[:-1])
    found: list[Import] = []

    def walk(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(rel, node.lineno, a.name, in_function, type_checking) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against this file's package
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            found.append(Import(rel, node.lineno, module, in_function, type_checking))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.append(Import(rel, node.lineno, node.args[0].value, in_function, type_checking))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for sub in node.body:
                walk(sub, in_function, True)
            for sub in node.orelse:
                walk(sub, in_function, type_checking)
            return
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            walk(child, nested, type_checking)

    walk(tree, False, False)
    return found


def _is_dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("x")`` or ``__import__("x")`` with a literal name."""
    func = call.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )
    return (
        named
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def top(module: str) -> str:
    return module.split(".", 1)[0]


@functools.cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for path in product_files() for imp in imports_of(path))


def in_dir(imp: Import, directory: str) -> bool:
    return imp.path.startswith(directory + "/")


# --- the scanner itself --------------------------------------------------------------------------


def test_the_scan_sees_the_product() -> None:
    scanned = {imp.path.split("/", 1)[0] for imp in all_imports()}
    assert {"fycli.py", "schemas", "local_db", "sync", "central"} <= scanned
    assert any(in_dir(i, "tui") and top(i.module) == "textual" for i in all_imports()), "tui uses Textual"


def test_the_scanner_classifies_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "sync"
    pkg.mkdir()
    source = pkg / "demo.py"
    source.write_text(
        textwrap.dedent(
            """
            import textual.app
            from typing import TYPE_CHECKING
            from . import engine
            from ..tui import screens
            if TYPE_CHECKING:
                from tui.app import App
            def run():
                from tui import app
                importlib.import_module("textual.widgets")
            class Shell:
                def go(self):
                    import central.service
            """
        ),
        "utf-8",
    )
    got = {(i.module, i.in_function, i.type_checking) for i in imports_of(source, root=tmp_path)}
    assert got == {
        ("textual.app", False, False),
        ("typing", False, False),
        ("sync", False, False),  # from . import engine
        ("tui", False, False),  # from ..tui import screens
        ("tui.app", False, True),
        ("tui", True, False),
        ("textual.widgets", True, False),
        ("central.service", True, False),
    }


# --- the rules -----------------------------------------------------------------------------------


def test_only_tui_imports_textual() -> None:
    offenders = [str(i) for i in all_imports() if top(i.module) == "textual" and not in_dir(i, "tui")]
    assert offenders == [], "Textual belongs in tui/ only: " + "; ".join(offenders)


def test_only_fycli_imports_tui_and_only_lazily() -> None:
    offenders = []
    for imp in all_imports():
        if top(imp.module) != "tui" or in_dir(imp, "tui"):
            continue
        if imp.path == "fycli.py" and (imp.in_function or imp.type_checking):
            continue
        offenders.append(str(imp))
    assert offenders == [], "only fycli.py may import tui, inside the command that needs it: " + "; ".join(
        offenders
    )


FORBIDDEN: dict[str, set[str]] = {
    # The contract: no other package of ours, and no I/O library.
    "schemas": {
        "local_db",
        "sync",
        "central",
        "tui",
        "textual",
        "httpx",
        "sqlite_utils",
        "sqlalchemy",
        "fastapi",
    },
    "local_db": {"central", "tui", "textual"},
    "sync": {"central", "tui", "textual"},
    "central": {"local_db", "sync", "tui", "textual"},
}


@pytest.mark.parametrize("directory", sorted(FORBIDDEN))
def test_layer_imports_only_what_is_below_it(directory: str) -> None:
    offenders = [
        str(i) for i in all_imports() if in_dir(i, directory) and top(i.module) in FORBIDDEN[directory]
    ]
    assert offenders == [], f"{directory}/ must not import {sorted(FORBIDDEN[directory])}: " + "; ".join(
        offenders
    )


def test_importing_everything_but_the_app_does_not_load_textual() -> None:
    code = "import fycli, sync, local_db, central, schemas; import sys; assert 'textual' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_command_line_does_not_load_textual_until_the_app_is_asked_for() -> None:
    code = textwrap.dedent(
        """
        import sys
        import fycli
        try:
            sys.argv = ["fycli", "--help"]
            fycli.main()
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        assert "textual" not in sys.modules, "fycli --help loaded Textual"
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
