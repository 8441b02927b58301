"""The periodic pass on a controlled clock: the reminder halfway (once), the deadline that
fails the step and the job, expired and replaced links; and the operator's resend."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import StepStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.manual.models import TaskStatus
from privacyops.manual.services import manual_tasks_due
from tests import factories
from tests.manual.conftest import link_in, path_of, task_of, text_part, waiting_step


def test_the_reminder_goes_halfway_once_and_its_link_replaces_the_first(
        manual_setup, mail_to_smtp):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        step = waiting_step(manual_setup)
        first = path_of(link_in(mail_to_smtp.wait_for()))
    task = task_of(step)
    assert task.deadline == start + timedelta(days=10)  # deadline_days of the map

    with time_machine.travel(start + timedelta(days=4, hours=23), tick=False):
        assert manual_tasks_due() == []  # not halfway yet
    with time_machine.travel(start + timedelta(days=5, hours=1), tick=False):
        assert manual_tasks_due() == ["1 manual reminder(s) sent"]
        reminder = mail_to_smtp.wait_for(lambda m: str(m["Subject"]).startswith("Reminder"))
        assert "still open" in text_part(reminder)
        assert manual_tasks_due() == []  # a second pass sends no second reminder
        second = path_of(link_in(reminder))
        replaced = Client().get(first)
        assert replaced.status_code == 409
        assert "replaced by a newer one" in replaced.content.decode()
        assert Client().get(second).status_code == 200
    with time_machine.travel(start + timedelta(days=8), tick=False):
        assert manual_tasks_due() == []
    assert len(mail_to_smtp.messages) == 2
    assert AuditEvent.objects.filter(action="manual.reminded").count() == 1


def test_at_the_deadline_the_step_fails_and_the_job_fails(manual_setup, mail_to_smtp):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        step = waiting_step(manual_setup)
        link = path_of(link_in(mail_to_smtp.wait_for()))
    with time_machine.travel(start + timedelta(days=10, seconds=-1), tick=False):
        # The link still works one second before the deadline.
        assert Client().get(link).status_code == 200
    with time_machine.travel(start + timedelta(days=10, minutes=1), tick=False):
        # Past the deadline the link is refused even before any pass has run.
        expired = Client().get(link)
        assert expired.status_code == 409
        assert "This link has expired" in expired.content.decode()
        said = manual_tasks_due()
    assert said == [f"manual task {task_of(step).pk}: deadline passed, step failed"]
    step.refresh_from_db()
    assert step.status == StepStatus.FAILED
    assert step.error_code == "manual_deadline_passed"
    job = Job.objects.get(pk=step.job_id)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "manual_deadline_passed"
    assert "deadline" in job.error_message
    assert task_of(step).status == TaskStatus.EXPIRED
    event = AuditEvent.objects.get(action="manual.expired")
    assert event.outcome == "failure"
    assert manual_tasks_due() == []  # nothing left to do on the next pass


def test_the_step_deadline_setting_applies_when_the_map_names_none(
        manual_setup, mail_to_smtp, settings, datamap_dir):
    from tests.manual.conftest import write_map

    settings.MANUAL_STEP_DAYS = 3
    write_map(datamap_dir, text="connector: manual\nversion: 1\nname: paper-archive\n"
                                "owner: keeper@example.org\ninstructions: Shred it.\n")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        step = waiting_step(manual_setup)
    assert task_of(step).deadline == start + timedelta(days=3)


def test_a_retried_job_gets_a_new_task_and_the_earlier_link_stops(manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    old = path_of(link_in(mail_to_smtp.wait_for()))
    # The engine puts the step back to waiting and announces it again.
    from privacyops.execution.models import JobStep
    from privacyops.execution.steps import step_waiting

    JobStep.objects.filter(pk=step.pk).update(started_at=timezone.now())
    step.refresh_from_db()
    step_waiting.send(sender=JobStep, step=step)
    mail_to_smtp.wait_for(lambda m: link_in(m) != f"http://testserver{old}")
    assert Client().get(old).status_code == 409
    assert [t.status for t in step.manual_tasks.order_by("pk")] == ["expired", "waiting"]


def test_the_operator_resends_the_email_from_the_job_page(manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    first = path_of(link_in(mail_to_smtp.wait_for()))
    staff = factories.user_create(email="ops@example.com", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(f"/platform/privacy/jobs/{step.job_id}/")
    content = page.content.decode()
    assert "Manual systems" in content
    assert "archive.keeper@example.org" in content
    assert "Resend email" in content
    response = client.post(f"/platform/privacy/manual/{task_of(step).pk}/resend/", follow=True)
    assert "was sent again" in response.content.decode()
    resent = mail_to_smtp.wait_for(lambda m: path_of(link_in(m)) != first)
    assert Client().get(path_of(link_in(resent))).status_code == 200
    assert Client().get(first).status_code == 409
    event = AuditEvent.objects.get(action="manual.email_resent")
    assert event.actor_label == "ops@example.com"


def test_a_member_without_the_right_cannot_resend(manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    mail_to_smtp.wait_for()
    admin = factories.user_create(email="adm@example.com", tenant=manual_setup.tenant,
                                  role="admin")
    client = Client()
    client.force_login(admin)
    response = client.post(f"/platform/privacy/manual/{task_of(step).pk}/resend/")
    assert response.status_code == 403
    assert len(mail_to_smtp.messages) == 1


def test_the_worker_fails_an_overdue_step_on_its_hourly_pass(manual_setup, mail_to_smtp):
    import threading
    import time

    from privacyops.jobs.management.commands.worker import manual_tasks_hourly
    from privacyops.manual.models import ManualTask

    step = waiting_step(manual_setup)
    mail_to_smtp.wait_for()
    # Ten days later, as far as the task knows.
    ManualTask.objects.filter(step=step).update(deadline=timezone.now() - timedelta(minutes=1))
    stop = threading.Event()
    worker = threading.Thread(target=manual_tasks_hourly, args=(stop,),
                              kwargs={"first_after": 0.01, "every": 3600.0}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=step.job_id).status != JobStatus.FAILED \
            and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    worker.join(timeout=30)
    assert Job.objects.get(pk=step.job_id).error_code == "manual_deadline_passed"


def test_a_step_whose_owner_was_never_asked_is_picked_up_by_the_pass(manual_setup, mail_to_smtp):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        step = waiting_step(manual_setup, announce=False)  # the announcement was lost
        assert manual_tasks_due() == []  # its own announcement may still be on its way
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        assert manual_tasks_due() == [f"manual step {step.pk}: its owner is asked now"]
        assert manual_tasks_due() == []
    assert task_of(step).status == TaskStatus.WAITING
    assert "Shred" in text_part(mail_to_smtp.wait_for())


def test_a_confirmation_the_step_never_heard_of_is_handed_over_again(manual_setup, mail_to_smtp):
    from privacyops.manual.models import ManualTask

    step = waiting_step(manual_setup)
    mail_to_smtp.wait_for()
    # As if the process stopped between the confirmation's commit and step_settle.
    ManualTask.objects.filter(step=step).update(status=TaskStatus.CONFIRMED, rows=5,
                                                confirmed_by="clerk@example.org",
                                                confirmed_at=timezone.now())
    assert manual_tasks_due() == [f"manual task {task_of(step).pk}: handed over to its step again"]
    step.refresh_from_db()
    assert step.status == StepStatus.COMPLETED
    assert step.rows == 5
    assert Job.objects.get(pk=step.job_id).status == JobStatus.COMPLETED
    assert manual_tasks_due() == []
