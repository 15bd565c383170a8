"""Every problem ``code`` the kernel or the BFF can answer, read from the code itself.

Two sources, so nothing is missed: the ``AppError`` class tree (after importing every module of
the package, so a new class anywhere is found), and the code literals in the source (``code =
"..."``, ``code="..."``, a ``code`` parameter's default), which also finds the codes answered
without a class of their own (the HTTP exception handler's, an unhandled crash's). Which service
answers a code is read from the import graph: the service whose app (``cornerstone.kernel.app``,
``cornerstone.bff.app``) reaches a module that raises the class or writes the literal.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cornerstone
from cornerstone.kit.problems import _STATUS_TITLES, AppError

# The services that answer HTTP, by the module that builds each one's app.
SERVICES: Mapping[str, str] = {"kernel": "cornerstone.kernel.app", "BFF": "cornerstone.bff.app"}

# Codes whose meaning no class docstring gives: those answered without a class, and the base
# class's own code (its docstring is about the taxonomy, not about the answer). A code found in the
# source with neither fails the catalogue's test.
DESCRIBED: Mapping[str, str] = {
    "INTERNAL_ERROR": "Something failed unexpectedly; it was logged with the request id. Nothing in the request "
    "can fix it: retry later, or report the `request_id`.",
    "METHOD_NOT_ALLOWED": "The path exists, but not with this HTTP method.",
    "NOT_ACCEPTABLE": "The route cannot answer in a media type the `Accept` header allows.",
    "HTTP_ERROR": "Any other HTTP error the framework raises, with its own status.",
    "KERNEL_ERROR": "The kernel refused the request with a problem that named no code (not expected); the status "
    "is the kernel's.",
}

# Code literals in the source that no API answers, and why: listed apart, so the catalogue still
# accounts for every literal.
NOT_ANSWERED: Mapping[str, str] = {
    "ERROR": "The web UI's name for an API answer that carried no code (`bff/web/api.py`); a page shows it, "
    "no API answers it.",
}

_CODE = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")
_PACKAGE_ROOT = Path(cornerstone.__file__).parent


@dataclass
class CatalogueEntry:
    """One code: what a client sees (status, title), what it means, and who answers it."""

    code: str
    statuses: set[int] = field(default_factory=set)
    titles: list[str] = field(default_factory=list)
    meanings: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # dotted names of the classes that carry it
    modules: set[str] = field(default_factory=set)  # the modules that raise it or write it
    services: set[str] = field(default_factory=set)


def _skipped(name: str) -> bool:
    # ``__main__`` runs the CLI when imported; migrations are schema scripts, not services.
    return name.endswith("__main__") or ".migrations" in name


def module_files() -> dict[str, Path]:
    """Every module of the package (but the skipped ones), by dotted name."""
    files: dict[str, Path] = {}
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        parts = list(path.relative_to(_PACKAGE_ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not _skipped(name):
            files[name] = path
    return files


@cache
def _tree(name: str) -> ast.Module:
    return ast.parse(module_files()[name].read_text(), filename=str(module_files()[name]))


def import_every_module() -> None:
    """Import the whole package, so every ``AppError`` subclass is defined before the tree is walked."""
    for info in pkgutil.walk_packages(cornerstone.__path__, "cornerstone."):
        if not _skipped(info.name):
            importlib.import_module(info.name)


def error_classes() -> list[type[AppError]]:
    """``AppError`` and every subclass of it the package defines, depth first, in definition order.

    Only the package's own: a process that also loaded tests holds their stand-in subclasses too,
    and the catalogue must not depend on what else was imported."""
    import_every_module()

    def walk(cls: type[AppError]) -> Iterator[type[AppError]]:
        yield cls
        for sub in cls.__subclasses__():
            yield from walk(sub)

    return [cls for cls in dict.fromkeys(walk(AppError)) if cls.__module__.partition(".")[0] == "cornerstone"]


def _imported(name: str, node: ast.Import | ast.ImportFrom, known: Mapping[str, Path]) -> set[str]:
    """The package's modules an import statement in module ``name`` loads (with their packages)."""
    if isinstance(node, ast.Import):
        targets = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, up ``level - 1`` more
            package = name.split(".") if known[name].name == "__init__.py" else name.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # ``from a import b``: ``b`` is a module or a name in ``a``; either way ``a`` is loaded.
        targets = {base} | {f"{base}.{alias.name}" for alias in node.names}
    loaded: set[str] = set()
    for target in targets:
        parts = target.split(".")
        loaded |= {".".join(parts[:end]) for end in range(1, len(parts) + 1)} & known.keys()
    return loaded


@cache
def reached_by(service_module: str) -> frozenset[str]:
    """The modules the service's app can load: its import graph, imports inside functions included."""
    known = module_files()
    seen: set[str] = set()
    todo = [service_module]
    while todo:
        name = todo.pop()
        if name in seen or name not in known:
            continue
        seen.add(name)
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                todo.extend(_imported(name, node, known) - seen)
    return frozenset(seen)


def _constants(node: ast.AST) -> list[str]:
    """The code-like string constants anywhere in an expression (``body.get("code") or "X"`` -> X)."""
    return [
        sub.value
        for sub in ast.walk(node)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and _CODE.fullmatch(sub.value)
    ]


def _names_code(target: ast.AST) -> bool:
    if isinstance(target, ast.Name | ast.Attribute):
        return (target.id if isinstance(target, ast.Name) else target.attr) == "code"
    if isinstance(target, ast.Tuple):
        return any(_names_code(element) for element in target.elts)
    return False


def _assigns_code(node: ast.Assign | ast.AnnAssign) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(_names_code(target) for target in targets)


def _class_attribute(node: ast.AST, parents: Mapping[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` is an assignment in a class body (``code = "X"`` defining an error class)."""
    return isinstance(parents.get(node), ast.ClassDef)


def code_literals(*, class_attributes: bool = True) -> dict[str, set[str]]:
    """Every code written as a literal for a ``code``: assigned (``code = "X"``, ``self.code = ...``,
    ``code, title = ...``), passed (``code="X"``) or defaulted (``code: str = "X"``), with the
    modules it is written in; without ``class_attributes``, only where a code is answered rather
    than where an error class defines it."""
    found: dict[str, set[str]] = {}
    for name in module_files():
        tree = _tree(name)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            values: list[ast.AST] = []
            if isinstance(node, ast.Assign | ast.AnnAssign) and _assigns_code(node):
                if node.value is not None and (class_attributes or not _class_attribute(node, parents)):
                    values.append(node.value)
            elif isinstance(node, ast.keyword) and node.arg == "code":
                values.append(node.value)
            elif isinstance(node, ast.arguments):
                positional = [*node.posonlyargs, *node.args]
                defaults = [
                    *zip(positional[len(positional) - len(node.defaults) :], node.defaults, strict=True),
                    *zip(node.kwonlyargs, node.kw_defaults, strict=True),
                ]
                values += [default for arg, default in defaults if arg.arg == "code" and default is not None]
            for value in values:
                for code in _constants(value):
                    found.setdefault(code, set()).add(name)
    return found


def _raisers(cls: type[AppError]) -> set[str]:
    """The modules that construct or raise ``cls`` (by its name, where that name is ``cls``: the
    defining module, or one importing it from there)."""
    modules = set()
    for name in module_files():
        tree = _tree(name)
        if name != cls.__module__ and not any(
            isinstance(node, ast.ImportFrom)
            and node.module == cls.__module__
            and any(alias.name == cls.__name__ for alias in node.names)
            for node in ast.walk(tree)
        ):
            continue
        for node in ast.walk(tree):
            target = node.func if isinstance(node, ast.Call) else node.exc if isinstance(node, ast.Raise) else None
            if isinstance(target, ast.Name) and target.id == cls.__name__:
                modules.add(name)
                break
    return modules


def _first_paragraph(cls: type) -> str:
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    text = " ".join(doc.split("\n\n", 1)[0].split())
    return text.replace("``", "`")


def undocumented_classes() -> list[str]:
    """The error classes without a docstring of their own (each must say what it means to a client)."""
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in error_classes() if not cls.__dict__.get("__doc__")]


# The HTTP exception handler answers these by status: an unknown route (404) or method (405) in
# any service, and whatever status a route raises.
HTTP_HANDLER = "cornerstone.kit.problems"
_STATUS_TITLES_BY_CODE: Mapping[str, tuple[int, str]] = {
    code: (status, title) for status, (code, title) in _STATUS_TITLES.items()
}


def runtime_code_classes() -> list[type[AppError]]:
    """Error classes that take their code at run time (``self.code = ...``), like the BFF's carrier
    of a kernel answer: they add no code of their own (their fallback literal is found in the source)."""
    return [cls for cls in error_classes() if _sets_own_code(cls)]


def _sets_own_code(cls: type) -> bool:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # a class made at run time has no source to read
        return False
    tree = ast.parse(textwrap.dedent(source))
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "code" for t in node.targets)
        for node in ast.walk(tree)
    )


def catalogue() -> list[CatalogueEntry]:
    """Every code an API answers, by HTTP status then code."""
    entries: dict[str, CatalogueEntry] = {}
    relays = set(runtime_code_classes())
    for cls in error_classes():
        if cls in relays:
            continue
        # A class without a ``code`` of its own answers its parent's: folded into the parent's entry.
        owner = next(base for base in cls.__mro__ if "code" in base.__dict__)
        entry = entries.setdefault(owner.__dict__["code"], CatalogueEntry(owner.__dict__["code"]))
        if owner is cls:
            entry.statuses.add(cls.status)
            entry.titles.append(cls.title)
            entry.meanings.append(_first_paragraph(cls))
        entry.classes.append(f"{cls.__module__}.{cls.__qualname__}")
        entry.modules |= _raisers(cls)
    for code, modules in code_literals(class_attributes=False).items():
        if code not in NOT_ANSWERED:
            entries.setdefault(code, CatalogueEntry(code)).modules |= modules
    for code, (status, title) in _STATUS_TITLES_BY_CODE.items():
        entry = entries.setdefault(code, CatalogueEntry(code))
        if not entry.statuses:
            entry.statuses.add(status)
            entry.titles.append(title)
        if not entry.modules or status in (404, 405):
            entry.modules.add(HTTP_HANDLER)
    for entry in entries.values():
        if entry.code in DESCRIBED:
            entry.meanings = [DESCRIBED[entry.code]]
        entry.services = {service for service, app in SERVICES.items() if entry.modules & reached_by(app)}
    return sorted(entries.values(), key=lambda entry: (min(entry.statuses, default=999), entry.code))
