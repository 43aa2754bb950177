"""A Celery worker that runs a generated workflow function once per task, whatever dies.

    redis-server &                          # the broker (Debian: apt-get install redis-server)
    cd examples
    COMFYUI_BASE_URL=http://gpu-1:8188,http://gpu-2:8188 \\
        celery -A celery_worker worker --pool threads --concurrency 8

    # anywhere else
    from celery_worker import preview
    print(preview.delay("a lighthouse").get())

Why no task is lost and none is paid for twice:

- `task_acks_late`: a task is acknowledged when it returns, not when it starts, so the
  message of a worker killed mid-task (deploy, OOM, SIGKILL) is delivered again, to the
  restarted worker or another one. With Redis that happens once `visibility_timeout`
  has passed since delivery (`CELERY_VISIBILITY_TIMEOUT`, default one hour).
- `idempotency_key=self.request.id`: the job's prompt id is derived from the task id, so
  the delivered-again task finds the job its first run submitted (queued, running or
  finished, on whichever server of the pool holds it) and takes its result instead of
  submitting it again. A task delivered again while its first run still works (a job
  longer than the visibility timeout) attaches to the same job too.
- `COMFYUI_BASE_URL` lists several servers: the default client is a `ComfyUIPool`, which
  spreads the jobs, skips servers that are down, and resubmits a job a server lost.
- `run_sync` runs every task's coroutine on one background event loop per process:
  whatever the concurrency, each server gets one socket.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from comfygen_runtime import run_sync
from gen import text_preview

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")

app = Celery("comfygen_example", broker=BROKER, backend=BROKER)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    result_extended=True,
    broker_transport_options={
        "visibility_timeout": float(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 3600)),
        # look for the messages of dead workers every second (after their timeout)
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
)


@app.task(bind=True, name="comfygen_example.preview")
def preview(self: Task[Any, Any], text: str) -> dict[str, str]:
    """Run `text_preview` for `text`: one job per task id, on one of the pool's servers."""
    result = run_sync(text_preview(text=text, idempotency_key=self.request.id))
    return {
        "text": result.preview[0].text,
        "prompt_id": result.prompt_id,
        "server": result.server or "",
    }
