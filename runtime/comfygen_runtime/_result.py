"""The base class of every generated result class."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WorkflowResult"]


class WorkflowResult(BaseModel):
    """What a finished run returned; generated subclasses add one field per output.

    `outputs` keeps the backend's raw per-node output records, so nothing the server
    reported is lost even when a node is not mapped to a named field.
    """

    model_config = ConfigDict(frozen=True)

    prompt_id: str = Field(description="The backend's id of the job that ran.")
    server: str | None = Field(
        default=None, description="The base URL of the server that ran the job."
    )
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="Raw outputs reported per node id."
    )
    duration: float | None = Field(
        default=None, description="Seconds the backend reports the job ran, if it does."
    )
    seeds: dict[str, int] = Field(
        default_factory=dict,
        description="Seeds picked at random for seed inputs that were 0 (node id -> seed).",
    )
    usage: dict[str, Any] = Field(
        default_factory=dict,
        description="Cost figures the backend reports (RunningHub: coins, money, time).",
    )
