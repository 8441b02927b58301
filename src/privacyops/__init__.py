"""PrivacyOps: data-subject requests, legal holds and a tamper-evident audit log."""
