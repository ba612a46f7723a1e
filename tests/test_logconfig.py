"""The command line's plain log handler follows ``sys.stderr`` (monitor/logconfig.py).

Catches: a handler bound to the standard error of the moment logging was configured, which writes
into a replaced (and later closed) stream: records lost, and a "Logging error" traceback on every
record once that stream is closed. Cannot catch: problems of the rich (terminal) handler.
"""

from __future__ import annotations

import io
import logging
import sys

import pytest

from monitor.logconfig import configure_logging


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_plain_handler_writes_to_the_current_stderr(monkeypatch, restore_root_logging):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO", rich_console=False)
    logging.getLogger("monitor.test").info("one")
    assert "monitor.test: one" in first.getvalue()

    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    first.close()  # the stream of configuration time is gone
    errors: list[str] = []
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: errors.append(record.getMessage()))
    logging.getLogger("mail.log").warning("two")
    assert errors == []
    assert "mail.log: two" in second.getvalue()
