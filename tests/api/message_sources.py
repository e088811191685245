"""Every error message the API can answer with, collected from the source (not examples).

Read with ``ast`` from every module under engine/api/ and the domain modules whose text
reaches the client. A message is a string literal or f-string that is:
- an argument of a call to an exception class of ours (a name ending in ``Error``,
  ``Exceeded``, ``Recipient(s)``, ``Found``, ``Archived``... any capitalised callee that
  is not a builtin) or of ``super().__init__`` in one; list/tuple elements and both
  branches of a conditional expression count;
- an argument of ``errors.append``;
- the value a message-making function returns (``*_message``, ``_parse_error``,
  ``check_days``, the callback URL rules).
A name argument is resolved to its module-level string constant. Each f-string becomes a
sample: its values become ``X`` (module-level string constants are spelled out), so the
sample is a message the engine could send.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = (
    "errors", "recipients", "csv_rows", "placeholders", "retention", "callback_urls", "timezones",
)  # fmt: skip
MESSAGE_FUNCTIONS = (
    "_parse_error",
    "check_days",
    "url_problem",
    "address_problem",
    "_callback_url_problem",
    "region_problem",
    "zone_problem",
)
_BUILTINS = {name for name in dir(builtins) if name[:1].isupper()}
# Not messages: arguments of our exception classes that are not their text, and
# ``csv_rows.RowError``, a row's problems as codes (the console words each one in both
# languages, engine/console/pages/send_upload.py; the API answers the sheet's message).
_SKIP_CALLEES = {"ErrorItem", "ErrorEnvelope", "Response", "RowError"}


def modules() -> list[Path]:
    api = sorted((ROOT / "engine" / "api").rglob("*.py"))
    domain = [ROOT / "engine" / "domain" / f"{name}.py" for name in DOMAIN]
    return [p for p in api if p.name not in ("french.py", "i18n.py")] + domain


def _constants(tree: ast.Module) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            value = node.value
            is_text = isinstance(value, ast.Constant) and isinstance(value.value, str)
            if isinstance(target, ast.Name) and is_text:
                out[target.id] = str(getattr(value, "value", ""))
    return out


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        if func.attr == "__init__" and isinstance(func.value, ast.Call):
            return "super"
        if func.attr == "append" and isinstance(func.value, ast.Name):
            return "append:" + func.value.id
        return func.attr
    return None


def _is_message_call(name: str | None) -> bool:
    if name is None:
        return False
    if name in ("super", "append:errors", "error_body", "server_error_body"):
        return True
    return name[:1].isupper() and name not in _BUILTINS and name not in _SKIP_CALLEES


def _expand(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.List | ast.Tuple):
        return [e for item in node.elts for e in _expand(item)]
    if isinstance(node, ast.IfExp):
        return _expand(node.body) + _expand(node.orelse)
    if isinstance(node, ast.ListComp):
        return _expand(node.elt)
    return [node]


def _sample(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.JoinedStr):
        out = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                out.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                inner = value.value
                if isinstance(inner, ast.Name) and inner.id in constants:
                    out.append(constants[inner.id])
                else:
                    out.append("X")
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left, constants), _sample(node.right, constants)
        return None if left is None or right is None else left + right
    return None


def collect() -> dict[str, str]:
    """sample message -> where it is written (path:line)."""
    found: dict[str, str] = {}
    for path in modules():
        tree = ast.parse(path.read_text())
        constants = _constants(tree)
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            nodes: list[ast.expr] = []
            if isinstance(node, ast.Call) and _is_message_call(_callee(node)):
                nodes = [e for arg in node.args for e in _expand(arg)]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                node.name.endswith("_message") or node.name in MESSAGE_FUNCTIONS
            ):
                nodes = [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value]
            for arg in nodes:
                sample = _sample(arg, constants)
                if sample is not None and " " in sample.strip():
                    found.setdefault(sample, f"{where}:{arg.lineno}")
    return found


if __name__ == "__main__":
    for message, where in sorted(collect().items(), key=lambda kv: kv[1]):
        print(f"{where}\t{message!r}")  # noqa: T201
