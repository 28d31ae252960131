"""The service's log lines: text for a terminal, or one JSON object a line (`log_format = "json"`).

Either way no secret is logged (none is ever put in a message), and no personal data unless
`log_personal_data` is set: uvicorn's access lines lose the client's address and the query
string (where click ids travel), and a delivery's line leaves out the vendor's explanation,
which may quote the lead. Every line goes through leadrelay.terminal: what strangers wrote
(event ids, paths) cannot rewrite the operator's terminal or break a JSON line.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from leadrelay.terminal import json_line, printable

ACCESS_LOGGER = "uvicorn.access"


class PrintableFormatter(logging.Formatter):
    """Log lines with control characters escaped; a traceback keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(printable(line) for line in super().formatException(ei).split("\n"))


class JsonLines(logging.Formatter):
    """{"time", "level", "logger", "message", ...the record's `fields`, "exception"} on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({key: value for key, value in fields.items() if key not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json_line(line)


class Discreet(logging.Filter):
    """Takes the personal data out of uvicorn's access lines (unless allowed), and gives them `fields`."""

    def __init__(self, personal_data: bool) -> None:
        super().__init__()
        self.personal_data = personal_data

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            if not self.personal_data:
                client, path = "-", str(path).split("?", 1)[0]
            record.args = (client, method, path, version, status)
            fields: dict[str, Any] = {"method": method, "path": path, "status": status}
            if self.personal_data:
                fields["client"] = client
            record.fields = fields
        return True


def configure(level: str, log_format: str, personal_data: bool, text_format: str) -> None:
    """Send every logger's lines (uvicorn's too: it is given no configuration of its own) to stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else PrintableFormatter(text_format))
    handler.addFilter(Discreet(personal_data))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines name every delivery URL
