"""What a user reads in the end-to-end stack's notifications: which alerts one is about, the
PagerDuty event of an alert, and waiting for one with the stack's logs on failure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from bundle.config import ALERTS
from tests.support.receivers import Message
from tests.support.stack import E2EStack

ALERT_NAMES = {a.name for a in ALERTS}


#: Generous: two cores shared with other test runs. Nothing below is a timed assertion.
WAIT = 90.0


T = TypeVar("T")


def wait(stack: E2EStack, check: Callable[[], T | None], what: str) -> T:
    """``Receivers.wait_for`` with the stack's logs added to the failure message."""
    try:
        return stack.rx.wait_for(check, timeout=WAIT, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{stack.logs()}") from None


def alerts_named(m: Message) -> set[str]:
    """The alert names a notification is about (titles, summaries, runbook links, labels)."""
    return {name for name in ALERT_NAMES if re.search(rf"\b{name}\b", m.text)}


def pd_event(stack: E2EStack, action: str, alertname: str) -> Message | None:
    for m in stack.rx.of("pagerduty"):
        if m.body["event_action"] == action and alertname in alerts_named(m):
            return m
    return None
