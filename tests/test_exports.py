"""Each server package shows exactly what its `__init__` lists, and the docs name only that.

The checks are in `tests/exports.py`. The last test gives them a package
made to break every rule once, so none of them can pass by looking at
nothing.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from . import exports

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("runtime", "storage", "actors", "chatnode", "push")
#: Every top-level package of the repository: none may import another's private parts.
EVERY_PACKAGE = (*PACKAGES, "protocol", "client", "tools")
DOCUMENTS = (REPO / "README.rst", *sorted((REPO / "docs").glob("*.rst")))


#: Every library package: the server's, and the wire's two (whose own
#: rules, such as the client's re-exports, are in tests/protocol/test_exports.py).
LIBRARIES = (*PACKAGES, "protocol", "client")


@pytest.fixture(params=LIBRARIES)
def package(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def test_every_listed_name_exists(package: ModuleType) -> None:
    assert exports.missing_exports(package) == []


def test_the_public_face_is_what_init_lists(package: ModuleType) -> None:
    assert exports.unlisted_names(package) == []


@pytest.mark.parametrize("name", PACKAGES)
def test_nothing_private_or_foreign_is_listed(name: str) -> None:
    assert exports.private_exports(importlib.import_module(name)) == []


def test_what_a_private_module_declares_is_exported(package: ModuleType) -> None:
    assert exports.unexported_declarations(package) == []


@pytest.mark.parametrize("name", EVERY_PACKAGE)
def test_no_package_imports_another_packages_private_modules(name: str) -> None:
    assert exports.foreign_private_imports(importlib.import_module(name), EVERY_PACKAGE) == []


def test_the_docs_name_only_public_names() -> None:
    assert exports.unknown_doc_references(DOCUMENTS, PACKAGES) == []


LEAKY = {
    "leaky/__init__.py": '''
        from ._impl import Shown, Unlisted, helper
        from ._impl import _hidden
        from other import Thing

        __all__ = ["Shown", "Absent", "_hidden", "Thing", "_impl"]
    ''',
    "leaky/_impl.py": '''
        import logging

        from other._secret import key

        logging.getLogger("leaky.audit")

        __all__ = ["Shown", "Declared"]

        class Shown:
            size = 1

        class Unlisted:
            pass

        class Declared:
            pass

        def helper():
            pass

        def _hidden():
            pass
    ''',
    "leaky/settings.py": '''
        import re

        def parse():
            pass
    ''',
    "other/__init__.py": '''
        class Thing:
            pass
    ''',
    "other/_secret.py": "key = 1\n",
}


@pytest.fixture
def leaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for name, source in LEAKY.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("leaky")
    for name in [name for name in sys.modules if name.split(".")[0] in ("leaky", "other")]:
        del sys.modules[name]


def test_the_checks_catch_each_kind_of_leak(leaky: ModuleType, tmp_path: Path) -> None:
    assert exports.missing_exports(leaky) == [
        "leaky.Absent is listed but missing",
        "leaky.settings has no __all__",
    ]
    assert exports.unlisted_names(leaky) == [
        "leaky.Unlisted is public but not in __all__",
        "leaky.helper is public but not in __all__",
        "leaky.settings.parse is public but not in __all__",
    ]
    assert exports.private_exports(leaky) == [
        "leaky._hidden is listed but private",
        "leaky.Thing is other's, exported again",
        "leaky._impl is listed but private",
    ]
    assert exports.unexported_declarations(leaky) == [
        "leaky._impl.Declared is declared public but no public module exports it",
    ]
    assert exports.foreign_private_imports(leaky, ["leaky", "other"]) == ["leaky/_impl.py:4 imports other._secret.key"]
    document = tmp_path / "guide.rst"
    document.write_text(
        "Use ``leaky.Shown.size`` and ``leaky.settings``; logs go to ``leaky.audit``.\n"
        "Not ``leaky._impl.Shown``, ``leaky.Unlisted``, ``leaky.Shown.colour`` or\n"
        "``python -m leaky.tool``; ``docs/leaky.rst`` is a path.\n"
    )
    assert exports.unknown_doc_references([document], ["leaky"]) == [
        "guide.rst:2 names leaky._impl.Shown",
        "guide.rst:2 names leaky.Unlisted",
        "guide.rst:2 names leaky.Shown.colour",
        "guide.rst:3 names leaky.tool",
    ]
