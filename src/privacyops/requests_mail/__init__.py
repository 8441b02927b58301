"""Emails to the person behind a privacy request, in their language, as text and HTML.

`send_request_email(kind, request, **extra)` is the one way to write to a data subject about
their request. Each kind builds an `Email` (paragraphs, facts, a list, one link) in Python with
gettext; two generic templates render it as plain text and as HTML, so both parts always say
the same. The language is the request's own (`request.language`), else the tenant's default.

The request object needs: `tenant` (`name`, `slug`, `privacy_contact_email`, `reply_to_email`,
`default_language`), `email`, `name`, `request_type`, `reference`, `deadline_at`,
`extension_reason`, `rejection_reason`, `language`, `status` and `jobs` (Jobs with
`job_type`, `status`, `result`).
"""

from privacyops.requests_mail.mail import (
    KINDS,
    email_language,
    render_request_email,
    send_request_email,
)

__all__ = ["KINDS", "email_language", "render_request_email", "send_request_email"]
