"""Scheduled jobs in child processes (placeholder)."""

child_initializer: str | None = None
