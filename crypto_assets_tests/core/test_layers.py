"""The house rules, checked on the source: domain code never imports the Dagster layer, and
settings reach the code as data, never from the environment.

Domain packages are every package under ``crypto_assets`` except the Dagster / entry-point
layers below, so a new domain (social, onchain, ...) is covered without an edit here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import crypto_assets

PACKAGE = Path(crypto_assets.__file__).parent
LAYERS = {"defs", "resources", "cli"}  # the Dagster layer and the entry points
FORBIDDEN_IN_DOMAIN = (
    "dagster",
    "dagster_duckdb",
    "dagster_duckdb_pandas",
    "crypto_assets.defs",
    "crypto_assets.resources",
    "crypto_assets.definitions",
    "crypto_assets.runner",
    "crypto_assets.cli",
)
# The Hugging Face libraries are configured only through the environment, at import: the
# sentiment package sets the product's defaults there (documented in its __init__).
ENVIRONMENT_ALLOWED = {"sentiment/__init__.py"}


def _domain_modules() -> list[Path]:
    packages = [p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    return sorted(f for p in packages if p.name not in LAYERS for f in p.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module an import statement names, at any depth (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
        if isinstance(node, ast.Name) and node.id == "get_settings":
            return True
    return False


def test_every_domain_package_is_checked() -> None:
    checked = {p.relative_to(PACKAGE).parts[0] for p in _domain_modules()}
    assert {"market", "features", "ml", "sentiment"} <= checked


def test_domain_code_imports_nothing_from_the_dagster_layer() -> None:
    offences = {
        str(path.relative_to(PACKAGE)): sorted(
            name
            for name in _imports(path)
            if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN_IN_DOMAIN)
        )
        for path in _domain_modules()
    }
    assert {k: v for k, v in offences.items() if v} == {}


def test_no_asset_or_domain_module_reads_the_environment() -> None:
    modules = [*_domain_modules(), *sorted((PACKAGE / "defs").rglob("*.py"))]
    readers = [
        str(p.relative_to(PACKAGE))
        for p in modules
        if _reads_environment(p) and str(p.relative_to(PACKAGE)) not in ENVIRONMENT_ALLOWED
    ]
    assert readers == []


def test_the_checker_sees_an_offence(tmp_path: Path) -> None:
    """The checks above would fail on a module that breaks the rules (they can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\n"
        "def f():\n"
        "    from crypto_assets.resources.settings import PipelineSettings\n"
        "    return os.environ['X'], PipelineSettings\n"
    )
    assert "crypto_assets.resources.settings" in _imports(bad)
    assert _reads_environment(bad)
