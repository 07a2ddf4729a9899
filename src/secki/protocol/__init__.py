"""Protocol schemas: the ordered lines of a result protocol and its control relations.

Pure Python and numpy, no Django: the simulator, the bundle reader and the web apps all
evaluate checks through :class:`secki.protocol.schema.ProtocolSchema`.
"""

from secki.protocol.expr import Expression, ExpressionError
from secki.protocol.schema import Check, CheckResult, Line, ProtocolSchema, SchemaError

__all__ = [
    "Check",
    "CheckResult",
    "Expression",
    "ExpressionError",
    "Line",
    "ProtocolSchema",
    "SchemaError",
]
