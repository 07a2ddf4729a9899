"""Protocol schemas: the ordered lines of a result protocol and its control relations.

Pure Python and numpy, no Django: the simulator, the bundle reader and the web apps all
evaluate checks through :class:`secki.protocol_schema.schema.ProtocolSchema`.
"""

from secki.protocol_schema.expr import Expression, ExpressionError
from secki.protocol_schema.schema import (
    Check,
    CheckResult,
    Contest,
    Line,
    ProtocolSchema,
    SchemaError,
)

__all__ = [
    "Check",
    "CheckResult",
    "Contest",
    "Expression",
    "ExpressionError",
    "Line",
    "ProtocolSchema",
    "SchemaError",
]
