"""A safe evaluator for control-relation expressions (no ``eval``).

Grammar: a Python expression restricted to integer and decimal literals, names (protocol
line codes such as ``L14``, and context names such as ``POLLS_CLOSE``), ``+ - * /``, unary
minus, comparisons (``== != < <= > >=``, chains allowed), ``and``/``or``/``not``,
parentheses, and the single function ``sum(C)``: the total of every candidate line; on a
protocol with contests, ``sum(C.code)``: the total of one contest's candidates.

Examples: ``L3 == L5 + L6 + L8 + L16``, ``L12 <= L6``, ``L14 == sum(C)``,
``L3 <= 1.03 * L1``.

An expression is compiled once into a tree of closures and then evaluated against a mapping
of names to values. Values may be Python numbers or numpy arrays (one element per station),
so the same rule checks one protocol typed at a form or a million rows of a file at once.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

CANDIDATE_GROUP = "C"


def contest_sum_key(code: str) -> str:
    """The name under which ``sum(C.code)`` (one contest's candidates) is given."""
    return f"{CANDIDATE_GROUP}.{code}"


Evaluator = Callable[[Mapping[str, Any]], Any]


class ExpressionError(ValueError):
    """The expression text is not in the allowed grammar, or names an unknown line."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class Expression:
    """A compiled control-relation expression.

    >>> Expression("L1 >= L5 + L6").evaluate({"L1": 10, "L5": 7, "L6": 2})
    True
    """

    __slots__ = ("_fn", "_sums", "contest_sums", "names", "source", "uses_candidates")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        if not self.source:
            raise ExpressionError("empty expression")
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"{self.source!r}: not a valid expression ({exc.msg})") from None
        names: set[str] = set()
        self.uses_candidates = False
        sums: set[str] = set()
        self.contest_sums: frozenset[str] = frozenset()  # contest codes of sum(C.code)
        self._sums = sums
        self._fn = self._compile(tree.body, names)
        self.contest_sums = frozenset(sums)
        del self._sums
        self.names = frozenset(names)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Evaluate against ``env``: names → numbers or arrays; ``C`` → candidate total."""
        return self._fn(env)

    def holds(self, env: Mapping[str, Any]) -> bool:
        """Evaluate a scalar relation and return a plain bool."""
        return bool(self._fn(env))

    # -- compilation -------------------------------------------------------------------
    def _compile(self, node: ast.expr, names: set[str]) -> Evaluator:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._error(node, "only numeric literals are allowed")
            return lambda env: value
        if isinstance(node, ast.Name):
            name = node.id
            if name == CANDIDATE_GROUP:
                raise self._error(node, "the candidate group C can only be used as sum(C)")
            names.add(name)
            return lambda env: env[name]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            op = _BINARY[type(node.op)]
            left, right = self._compile(node.left, names), self._compile(node.right, names)
            return lambda env: op(left(env), right(env))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self._compile(node.operand, names)
            return lambda env: -inner(env)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._compile(node.operand, names)
            return lambda env: np.logical_not(inner(env))
        if isinstance(node, ast.BoolOp):
            parts = [self._compile(v, names) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

            def boolop(env: Mapping[str, Any]) -> Any:
                result = parts[0](env)
                for part in parts[1:]:
                    result = combine(result, part(env))
                return result

            return boolop
        if isinstance(node, ast.Compare):
            operands = [self._compile(node.left, names)]
            operands += [self._compile(c, names) for c in node.comparators]
            ops = []
            for op_node in node.ops:
                if type(op_node) not in _COMPARE:
                    raise self._error(node, f"comparison {type(op_node).__name__} is not allowed")
                ops.append(_COMPARE[type(op_node)])

            def compare(env: Mapping[str, Any]) -> Any:
                values = [operand(env) for operand in operands]
                result = ops[0](values[0], values[1])
                for i in range(1, len(ops)):
                    result = np.logical_and(result, ops[i](values[i], values[i + 1]))
                return result

            return compare
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "sum"
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == CANDIDATE_GROUP
        ):
            self.uses_candidates = True
            return lambda env: env[CANDIDATE_GROUP]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "sum"
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Attribute)
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == CANDIDATE_GROUP
        ):
            key = contest_sum_key(node.args[0].attr)
            self._sums.add(node.args[0].attr)
            return lambda env: env[key]
        raise self._error(node, f"{type(node).__name__} is not allowed")

    def _error(self, node: ast.AST, message: str) -> ExpressionError:
        col = getattr(node, "col_offset", 0)
        return ExpressionError(f"{self.source!r} at column {col + 1}: {message}")
