"""Trends of the request queue for the overview: received and completed per week, the median
days to complete, the on-time rate against the deadline, and what is overdue now.

Read-only and scoped to the viewer's tenants like every selector. The numbers come from a
bounded window (the last `weeks` weeks), so the overview costs the same with years of history.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from privacyops.intake.models import OPEN_STATUSES, IntakeRequest, RequestStatus
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import tenants_visible_to

FINISHED = (RequestStatus.COMPLETED, RequestStatus.REJECTED)


@dataclass(frozen=True)
class Week:
    start: date
    received: int
    completed: int


@dataclass(frozen=True)
class RequestTrends:
    weeks: list[Week]
    median_days: float | None
    on_time_rate: float | None  # share of requests finished in the window that met the deadline
    overdue_now: int

    @property
    def peak(self) -> int:
        return max([1, *(max(w.received, w.completed) for w in self.weeks)])

    @property
    def on_time_percent(self) -> int | None:
        return None if self.on_time_rate is None else round(100 * self.on_time_rate)


def _monday(moment: datetime) -> date:
    day = timezone.localtime(moment).date()
    return day - timedelta(days=day.weekday())


def request_trends(viewer: User, *, weeks: int = 8, tenant_id: int | None = None) -> RequestTrends:
    now = timezone.now()
    first = _monday(now) - timedelta(weeks=weeks - 1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    requests = IntakeRequest.objects.all()
    if not viewer.is_staff:
        requests = requests.filter(tenant__in=tenants_visible_to(viewer, "intake.view"))
    if tenant_id is not None:
        requests = requests.filter(tenant_id=tenant_id)
    received: dict[date, int] = {}
    for submitted in requests.filter(submitted_at__gte=since).values_list("submitted_at", flat=True):
        week = _monday(submitted)
        received[week] = received.get(week, 0) + 1
    completed: dict[date, int] = {}
    durations: list[float] = []
    on_time = finished = 0
    closed_rows = requests.filter(closed_at__gte=since, status__in=FINISHED).values_list(
        "submitted_at", "closed_at", "deadline_at")
    for submitted, closed, deadline in closed_rows:
        if closed is None:
            continue
        week = _monday(closed)
        completed[week] = completed.get(week, 0) + 1
        durations.append((closed - submitted).total_seconds() / 86400)
        finished += 1
        on_time += closed <= deadline
    overdue = requests.filter(status__in=OPEN_STATUSES, deadline_at__lt=now).count()
    return RequestTrends(
        weeks=[Week(start=first + timedelta(weeks=i),
                    received=received.get(first + timedelta(weeks=i), 0),
                    completed=completed.get(first + timedelta(weeks=i), 0))
               for i in range(weeks)],
        median_days=round(statistics.median(durations), 1) if durations else None,
        on_time_rate=on_time / finished if finished else None,
        overdue_now=overdue,
    )
