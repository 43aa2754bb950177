"""Typed references to what a workflow produced.

Every item of a result field is one of these. Files (`Image`, `Video`, `Audio`, `File`)
name a file on the backend; `Text` carries text that a node returned (and, for nodes
that also save it, the file it was written to).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Output(BaseModel):
    """Base of every output reference: which node produced it."""

    model_config = ConfigDict(frozen=True)

    node_id: str


class File(Output):
    """A file written by an output node (generic: 3D models, archives, unknown kinds)."""

    filename: str
    subfolder: str = ""
    type: str = "output"
    url: str = ""


class Image(File):
    """An image (still or animated) written by an output node."""


class Video(File):
    """A video written by an output node."""


class Audio(File):
    """An audio file written by an output node."""


class Text(Output):
    """Text returned by a node (`PreviewAny`, `SaveText`, ...)."""

    text: str
    file: File | None = None
