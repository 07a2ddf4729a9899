"""One error type for every intake channel, mapped to one JSON error shape by the API:

    {"error": {"code": "hard_check_failed", "message": "…", "field": "L14", "details": [...]}}

``code`` is stable and machine-readable; ``message`` names the line or rule; ``status`` is the
HTTP status the API answers with.
"""

from __future__ import annotations

from typing import Any


class IntakeError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 422,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        self.details = details or []

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}
