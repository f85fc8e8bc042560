"""What a package shows the world, checked as trio's own test_exports.py checks trio.

The house style: a package's modules are private (`_name.py`) and its
`__init__` re-exports what is public and lists it in `__all__`; a module
without an underscore (`storage.config`) is public and has an `__all__` of
its own. Each check below returns what breaks that rule, as readable
strings, so that a failing test says what to fix. They work on any package:
`tests/test_exports.py` runs them on the server's packages, and the protocol
and client suites can run them on theirs.
"""

from __future__ import annotations

import __future__

import ast
import importlib
import logging
import pkgutil
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def public_modules(package: ModuleType) -> list[ModuleType]:
    """The package and each submodule with no underscore anywhere in its dotted name."""
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if not _private(info.name):
            found.append(importlib.import_module(info.name))
    return found


def private_modules(package: ModuleType) -> list[ModuleType]:
    """Every submodule with an underscore in its name, except `__main__` (which runs a program)."""
    found = []
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if _private(info.name) and not info.name.endswith(".__main__"):
            found.append(importlib.import_module(info.name))
    return found


def _listed(module: ModuleType) -> list[str]:
    return list(getattr(module, "__all__", ()))


def _defined_in(value: object, package: ModuleType) -> bool:
    owner = getattr(value, "__module__", None)
    return isinstance(owner, str) and (owner == package.__name__ or owner.startswith(f"{package.__name__}."))


def _is_future_feature(value: object) -> bool:
    return isinstance(value, __future__._Feature)


def _face(module: ModuleType) -> set[str]:
    """What `dir` shows without an underscore, less submodules and `__future__` features."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and not _is_future_feature(value)
    }


def missing_exports(package: ModuleType) -> list[str]:
    """Names an `__all__` lists that its module does not have, or lists twice."""
    problems = []
    for module in public_modules(package):
        if not hasattr(module, "__all__"):
            problems.append(f"{module.__name__} has no __all__")
        listed = _listed(module)
        problems += [f"{module.__name__}.{name} is listed but missing" for name in listed if not hasattr(module, name)]
        problems += [f"{module.__name__}.{name} is listed twice" for name in sorted(set(listed)) if listed.count(name) > 1]
    return problems


def unlisted_names(package: ModuleType) -> list[str]:
    """Public names a public module has but does not list.

    A package's `__init__` only re-exports, so everything it shows must be in
    `__all__`: its face is exactly that list. A public plain module also
    imports what it needs, so there only the classes and functions it
    defines itself must be listed.
    """
    problems = []
    for module in public_modules(package):
        listed = set(_listed(module))
        if hasattr(module, "__path__"):
            shown = _face(module)
        else:
            shown = {name for name in _face(module) if getattr(getattr(module, name), "__module__", None) == module.__name__}
        problems += [f"{module.__name__}.{name} is public but not in __all__" for name in sorted(shown - listed)]
    return problems


def private_exports(package: ModuleType) -> list[str]:
    """Listed names that are private: an underscore name, a module, or another package's class or function.

    Exporting another package's class would give one thing two public names
    (and tie this package's face to that one's); its users import it from
    where it is defined.
    """
    problems = []
    for module in public_modules(package):
        for name in _listed(module):
            value = getattr(module, name, None)
            if name.startswith("_"):
                problems.append(f"{module.__name__}.{name} is listed but private")
            elif isinstance(value, ModuleType):
                problems.append(f"{module.__name__}.{name} is a module: import it, do not list it")
            elif isinstance(value, type) or callable(value):
                if not _defined_in(value, package):
                    owner = value.__module__.partition(".")[0]
                    problems.append(f"{module.__name__}.{name} is {owner}'s, exported again")
    return problems


def unexported_declarations(package: ModuleType) -> list[str]:
    """Names a private module's own `__all__` declares but no public module of the package re-exports."""
    exported = {id(getattr(module, name, None)) for module in public_modules(package) for name in _listed(module)}
    return [
        f"{module.__name__}.{name} is declared public but no public module exports it"
        for module in private_modules(package)
        for name in _listed(module)
        if id(getattr(module, name, None)) not in exported
    ]


def _imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted name) for every absolute import in a module, `from a import b` giving `a.b`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def foreign_private_imports(package: ModuleType, others: Iterable[str]) -> list[str]:
    """Imports, in the package's source, of a private module or name of one of `others`."""
    others = set(others) - {package.__name__}
    root = Path(package.__path__[0])
    problems = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for line, dotted in _imported_names(tree):
            top, _, rest = dotted.partition(".")
            if top in others and _private(rest):
                problems.append(f"{path.relative_to(root.parent)}:{line} imports {dotted}")
    return problems


# A dotted name inside ``...`` that starts with one of the packages; a name
# after a slash or a dot is part of a path or of another name, not this one.
_SPAN = re.compile(r"``(.+?)``", re.DOTALL)


def _references(text: str, packages: Sequence[str]) -> Iterator[tuple[int, str]]:
    name = re.compile(rf"(?<![\w./-])(?:{'|'.join(map(re.escape, packages))})(?:\.[A-Za-z_]\w*)+")
    for span in _SPAN.finditer(text):
        line = text.count("\n", 0, span.start()) + 1
        for found in name.finditer(span.group(1)):
            yield line, found.group()


def _is_logger(name: str) -> bool:
    return isinstance(logging.root.manager.loggerDict.get(name), logging.Logger)


def _resolves(dotted: str) -> bool:
    """Whether `dotted` is a public name: listed in `__all__` (or a public submodule), then attributes."""
    top, *parts = dotted.split(".")
    value: object = importlib.import_module(top)
    submodules = {module.__name__: module for module in public_modules(value)}
    for part in parts:
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return False
        if isinstance(value, ModuleType):
            if part in _listed(value):
                value = getattr(value, part)
            elif f"{value.__name__}.{part}" in submodules:
                value = submodules[f"{value.__name__}.{part}"]
            else:
                return False
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            return False
    return True


def unknown_doc_references(documents: Iterable[Path], packages: Sequence[str]) -> list[str]:
    """``double-backtick`` names of `packages` in the documents that are not public names.

    A logger's name (``runtime.registry``) counts as public: operators
    configure loggers by name. The packages are imported first, so that
    every logger they make exists.
    """
    for package in packages:
        private_modules(importlib.import_module(package))
    problems = []
    for document in documents:
        for line, dotted in _references(document.read_text(), packages):
            if not (_resolves(dotted) or _is_logger(dotted)):
                problems.append(f"{document.name}:{line} names {dotted}")
    return problems
