"""Build and send the emails about one privacy request (see the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

logger = logging.getLogger(__name__)

KINDS = ("received", "verify", "extended", "completed", "rejected")
VERIFY_LINK_HOURS = 48
# Job types and status as stored (jobs.models); not imported, so this module loads with the apps.
EXPORT, ERASE, COMPLETED = "EXPORT", "ERASE", "Completed"

# What the person asked for, in their words, with the GDPR article.
REQUEST_TYPES = {
    "access": gettext_lazy("access to your data under GDPR Article 15"),
    "portability": gettext_lazy("a portable copy of your data under GDPR Article 20"),
    "erasure": gettext_lazy("erasure of your data under GDPR Article 17"),
    "correction": gettext_lazy("correction of your data under GDPR Article 16"),
    "restriction": gettext_lazy("restriction of processing under GDPR Article 18"),
    "objection": gettext_lazy("objection to processing under GDPR Article 21"),
}


@dataclass
class Email:
    """One email, before it is rendered: the same parts make the text and the HTML version."""

    subject: str
    language: str
    greeting: str
    paragraphs: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    action: tuple[str, str] | None = None  # (label, absolute URL)
    closing: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    tenant_name: str = ""
    reference: str = ""
    text: str = ""
    html: str = ""


def supported_language(code: str | None) -> str | None:
    """`code` if it is one of settings.LANGUAGES (a regional variant counts: de-AT is de)."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def email_language(request: Any) -> str:
    """The request's own language, else its tenant's default, else the site's."""
    return (supported_language(getattr(request, "language", ""))
            or supported_language(getattr(request.tenant, "default_language", ""))
            or settings.LANGUAGE_CODE)


def absolute(path: str, *, language: str | None = None) -> str:
    """A link that works from a mail client: PRIVACYOPS_BASE_URL + path (+ `?lang=`)."""
    query = f"?{urlencode({'lang': language})}" if language else ""
    return f"{settings.BASE_URL}{path}{query}"


def privacy_center_url(request: Any, language: str) -> str:
    return absolute(reverse("privacy_center:center", kwargs={"slug": request.tenant.slug}),
                    language=language)


def day(value: date | datetime | None) -> str:
    """A date in the email's language: `07 December 2026`, `7. Dezember 2026`."""
    if value is None:
        return "—"
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    # Translators: a Django date format (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
    return formats.date_format(value, pgettext("email date", "d F Y"))


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _jobs(request: Any) -> list[Any]:
    jobs = getattr(request, "jobs", None)
    if jobs is None:
        return []
    if hasattr(jobs, "all"):
        jobs = jobs.all()
    return list(jobs)


def _completed(request: Any, job_type: str) -> list[Any]:
    return [j for j in _jobs(request) if j.job_type == job_type and j.status == COMPLETED]


def _system_results(result: Any) -> Iterable[dict[str, Any]]:
    """An erase result per system: `{"systems": [...]}` (several) or one flat result."""
    if not isinstance(result, dict):
        return []
    systems = result.get("systems")
    if isinstance(systems, list):
        return [s for s in systems if isinstance(s, dict)]
    if isinstance(systems, dict):
        return [{"system": name, **value} for name, value in systems.items()
                if isinstance(value, dict)]
    return [result]


def erased_summary(request: Any) -> list[str]:
    """One plain sentence per system: which kinds of data were erased (no values, no ids)."""
    lines: list[str] = []
    for job in _completed(request, ERASE):
        for part in _system_results(job.result):
            system = str(part.get("system") or part.get("datastore") or _("our systems"))
            categories = sorted({c for cats in (part.get("categories") or {}).values()
                                 for c in cats})
            if not categories:  # no categories declared: name the tables instead
                categories = sorted(t for t, v in (part.get("tables") or {}).items()
                                    if not isinstance(v, dict) or v.get("rows"))
            rows = int(part.get("rows_changed") or 0)
            what = ", ".join(c.replace("_", " ") for c in categories)
            if what:
                lines.append(_("In %(system)s: %(what)s (%(rows)s records).")
                             % {"system": system, "what": what, "rows": rows})
            else:
                lines.append(_("In %(system)s: %(rows)s records.")
                             % {"system": system, "rows": rows})
    return lines


def export_expiry(request: Any, extra: dict[str, Any]) -> datetime | None:
    if extra.get("expires_at"):
        return _moment(extra["expires_at"])
    moments = [_moment((j.result or {}).get("expires_at")) for j in _completed(request, EXPORT)
               if isinstance(j.result, dict)]
    found = [m for m in moments if m is not None]
    return max(found) if found else None


def _type(request: Any) -> str:
    return str(REQUEST_TYPES.get(request.request_type, request.request_type))


def _base(request: Any, language: str, subject: str) -> Email:
    tenant = request.tenant
    contact = tenant.privacy_contact_email
    name = (request.name or "").strip()
    signature = [_("Questions? Reply to this email or write to %(contact)s.")
                 % {"contact": contact}] if contact else [_("Questions? Reply to this email.")]
    signature.append(_("— The privacy team of %(tenant)s") % {"tenant": tenant.name})
    return Email(
        subject=subject, language=language,
        greeting=_("Hello %(name)s,") % {"name": name} if name else _("Hello,"),
        signature=signature, tenant_name=tenant.name, reference=request.reference,
    )


def _received(request: Any, language: str, extra: dict[str, Any]) -> Email:
    mail = _base(request, language, _("We received your privacy request %(reference)s")
                 % {"reference": request.reference})
    mail.paragraphs.append(_("%(tenant)s received your request for %(type)s.")
                           % {"tenant": request.tenant.name, "type": _type(request)})
    mail.facts += [(_("Reference number"), request.reference),
                   (_("We answer by"), day(request.deadline_at))]
    mail.paragraphs.append(_("Please quote the reference number if you write to us about "
                             "this request. If we need more time, we tell you why by email."))
    mail.action = (_("Follow your request in the privacy center"),
                   privacy_center_url(request, language))
    return mail


def _verify(request: Any, language: str, extra: dict[str, Any]) -> Email:
    hours = int(extra.get("expires_hours", VERIFY_LINK_HOURS))
    mail = _base(request, language, _("Confirm your privacy request %(reference)s")
                 % {"reference": request.reference})
    mail.paragraphs.append(
        _("We received your privacy request %(reference)s (%(type)s) for %(tenant)s. "
          "Please confirm that this is your email address by opening this link:")
        % {"reference": request.reference, "type": _type(request),
           "tenant": request.tenant.name})
    mail.action = (_("Confirm my email address"), str(extra["verify_url"]))
    mail.closing += [
        _("The link works once and expires in %(hours)s hours. We will respond by "
          "%(deadline)s.") % {"hours": hours, "deadline": day(request.deadline_at)},
        _("If you did not send this request, ignore this email."),
    ]
    return mail


def _extended(request: Any, language: str, extra: dict[str, Any]) -> Email:
    mail = _base(request, language, _("Your privacy request %(reference)s: deadline extended")
                 % {"reference": request.reference})
    mail.paragraphs.append(_("We need more time to answer your privacy request "
                             "%(reference)s (%(type)s) to %(tenant)s.")
                           % {"reference": request.reference, "type": _type(request),
                              "tenant": request.tenant.name})
    mail.facts.append((_("New deadline"), day(request.deadline_at)))
    if extra.get("original_deadline"):
        mail.facts.append((_("Original deadline"), day(extra["original_deadline"])))
    mail.facts.append((_("Reason"), request.extension_reason))
    mail.closing.append(_("GDPR Article 12(3) allows extending the response time by up to two "
                          "further months where necessary, taking into account the complexity "
                          "and number of requests."))
    return mail


def _completed_mail(request: Any, language: str, extra: dict[str, Any]) -> Email:
    mail = _base(request, language, _("Your privacy request %(reference)s is complete")
                 % {"reference": request.reference})
    kind = request.request_type
    if kind in ("access", "portability"):
        mail.paragraphs.append(_("The copy of the data %(tenant)s holds about you is ready.")
                               % {"tenant": request.tenant.name})
        mail.action = (_("Download it in the privacy center"),
                       privacy_center_url(request, language))
        expires = export_expiry(request, extra)
        mail.closing.append(_("Sign in there with this email address; we send you a one-time "
                              "code to prove it is yours."))
        mail.closing.append(
            _("The download is available until %(expiry)s.") % {"expiry": day(expires)}
            if expires else _("The download is available for a limited time."))
    elif kind == "erasure":
        lines = list(extra.get("erased") or erased_summary(request))
        mail.paragraphs.append(_("We erased your personal data as you asked."))
        if lines:
            mail.paragraphs.append(_("What we erased, by system:"))
            mail.items = lines
        mail.closing.append(_("Data that the law obliges us to keep, such as invoices, is "
                              "kept only until that obligation ends."))
    elif kind in ("correction", "restriction"):
        fields = [str(f) for f in extra.get("fields") or []]
        if kind == "correction":
            mail.paragraphs.append(_("We corrected your data as you asked."))
            heading = _("What changed:")
        else:
            mail.paragraphs.append(_("We restricted the processing of your data as you asked: "
                                     "we keep it, but use it for nothing else without your "
                                     "consent."))
            heading = _("What is restricted:")
        if fields:
            mail.paragraphs.append(heading)
            mail.items = fields
    else:
        mail.paragraphs.append(_("We have completed your request for %(type)s.")
                               % {"type": _type(request)})
    mail.facts.append((_("Reference number"), request.reference))
    return mail


def _rejected(request: Any, language: str, extra: dict[str, Any]) -> Email:
    mail = _base(request, language, _("Your privacy request %(reference)s was rejected")
                 % {"reference": request.reference})
    mail.paragraphs.append(_("We cannot act on your privacy request %(reference)s (%(type)s) "
                             "to %(tenant)s.")
                           % {"reference": request.reference, "type": _type(request),
                              "tenant": request.tenant.name})
    mail.facts.append((_("Reason"), request.rejection_reason))
    mail.closing.append(_("You have the right to lodge a complaint with a supervisory authority "
                          "(the data protection authority of the EU country where you live, "
                          "work, or where the alleged infringement took place) and to seek a "
                          "judicial remedy (GDPR Article 12(4))."))
    return mail


_BUILDERS = {"received": _received, "verify": _verify, "extended": _extended,
             "completed": _completed_mail, "rejected": _rejected}


def render_request_email(kind: str, request: Any, **extra: Any) -> Email:
    """The email of `kind` in the request's language, rendered (`text` and `html` filled)."""
    if kind not in _BUILDERS:
        raise ValueError(f"Unknown email kind {kind!r}; use one of {', '.join(KINDS)}.")
    if kind == "verify" and not extra.get("verify_url"):
        raise ValueError("A verify email needs verify_url=<the absolute confirmation link>.")
    language = email_language(request)
    with translation.override(language):
        mail = _BUILDERS[kind](request, language, extra)
        context = {"mail": mail}
        mail.text = render_to_string("requests_mail/email.txt", context)
        mail.html = render_to_string("requests_mail/email.html", context)
    return mail


def reply_to(tenant: Any) -> list[str]:
    address = getattr(tenant, "reply_to_email", "") or tenant.privacy_contact_email
    return [address] if address else []


def sender(tenant: Any) -> str:
    """DEFAULT_FROM_EMAIL's address, shown with the tenant's name (`Acme <privacy@…>`)."""
    _display, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((str(tenant.name), address or settings.DEFAULT_FROM_EMAIL))


def send_request_email(kind: str, request: Any, **extra: Any) -> None:
    """Render and send one email to `request.email` (text and HTML alternatives).

    `attachments` (``[(filename, content, mimetype)]``) are attached as they are (the signed
    erasure receipt of a completed erasure)."""
    attachments = list(extra.pop("attachments", None) or [])
    mail = render_request_email(kind, request, **extra)
    message = EmailMultiAlternatives(
        subject=mail.subject, body=mail.text, from_email=sender(request.tenant),
        to=[request.email], reply_to=reply_to(request.tenant),
        headers={"Content-Language": mail.language},
    )
    message.attach_alternative(mail.html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    message.send()
    # No address, name or reference here: the tenant id, the kind and the language suffice.
    logger.info("request email %s sent (tenant %s, language %s)", kind,
                getattr(request.tenant, "pk", "?"), mail.language)
