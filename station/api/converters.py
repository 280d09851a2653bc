"""URL converters: a record id is a whole number SQLite can hold, or the route is a 404."""

from __future__ import annotations

from werkzeug.routing import BaseConverter


class RecordIdConverter(BaseConverter):
    """``<record_id:...>``: 1 to 10**18 - 1 in ASCII digits, no leading zero (ids are given out
    from 1 up and never reach 2**63, SQLite's limit: a longer number matches no route)."""

    regex = r"[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))
