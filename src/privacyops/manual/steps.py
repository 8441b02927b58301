"""The one place the manual app talks to the multi-system engine (execution.steps).

The engine marks a manual system's step ``waiting`` and sends ``step_waiting(step=…)``; this
module opens a task for it. When the owner confirms, or the deadline passes, ``settle`` hands
the outcome back through the engine's ``step_settle``, which completes or fails the job once
every step is final.
"""

from __future__ import annotations

import logging
from typing import Any

from privacyops.tenancy.actors import Actor

logger = logging.getLogger(__name__)

MANUAL = "manual"


def connect() -> None:
    """Listen to the engine's ``step_waiting`` (called from the app's ready())."""
    from privacyops.execution.steps import step_waiting

    step_waiting.connect(_on_step_waiting, dispatch_uid="privacyops.manual.step_waiting")


def _on_step_waiting(sender: Any, *, step: Any, **kwargs: Any) -> None:
    """Runs after the engine's commit, in its worker. A failure here must not break the worker:
    it is logged (by type only), and the periodic pass asks the owner of a step left without
    a task."""
    if step.connector != MANUAL:
        return
    from privacyops.manual.services import manual_task_open

    try:
        manual_task_open(step=step)
    except Exception as error:
        logger.error("manual step %s: asking its owner failed (%s); the next pass retries",
                     step.pk, type(error).__name__)


def settle(*, step_id: int, status: str, rows: int, result: dict[str, Any], actor: Actor) -> None:
    """Hand the outcome to the engine. A failure's ``result["code"]`` becomes the step's error
    code (set first: step_settle keeps a code already there), so the failed job carries it."""
    from privacyops.execution.models import JobStep, StepStatus
    from privacyops.execution.steps import step_settle

    if status == StepStatus.FAILED and result.get("code"):
        JobStep.objects.filter(pk=step_id, status=StepStatus.WAITING).update(
            error_code=str(result["code"])[:40])

    step_settle(step_id=step_id, status=status, rows=rows, result=result, actor=actor)
