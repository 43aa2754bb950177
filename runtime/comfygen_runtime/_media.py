"""Values accepted by media parameters (`$~image`)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

MediaInput: TypeAlias = Path | bytes | str
"""A `Path` or existing file path, raw `bytes`, an http(s) URL, or a file name already on
the server; the runtime uploads what needs uploading and writes the server's name."""
