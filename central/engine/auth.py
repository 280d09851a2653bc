"""Ray's token authentication for the centre's cluster.

Ray reads its authentication settings when it is first imported, so :func:`use_token` runs before
anything imports ``ray`` (``central dedup`` calls it first). The token is kept in the centre's
data directory (``keys/ray-token``, 0600, made once); every node of a cluster the centre joins is
started with the same file (``RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=... ray start ...``).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from station.security.crypto import write_private_file


def use_token(token_file: Path) -> dict[str, str]:
    """Token authentication with ``token_file`` for this process (and the ``ray start`` commands
    given the returned environment); an error once ``ray`` is imported without it."""
    if not token_file.is_file():
        write_private_file(token_file, secrets.token_hex(32).encode())
    settings = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}
    if "ray" in sys.modules and any(os.environ.get(k) != v for k, v in settings.items()):
        raise RuntimeError("Ray was imported before its token was set: call use_token first")
    os.environ.update(settings)
    return settings
