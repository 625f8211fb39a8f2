"""Runbooks' generated parts, from the site config: the YAML front matter (owner, last review,
next review, contact tree) of every runbook and of docs/incident-response.md, and the "Contact
tree" section of every runbook (an alert's: its tiers; a procedure's: all of them). The text a human wrote is kept as it is; ``make rules``
replaces only these parts, so an edit goes to ``bundle/site.yml`` (``runbooks``, ``contacts``).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from bundle.config import ALERTS, PRIORITY, SITE, TIERS, Alert, severity_label
from bundle.site import SiteError

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks"
INCIDENT_RESPONSE = "docs/incident-response.md"
CONTACT_TREE = "## Contact tree"
WHO_ANSWERS = "## Who answers"
GENERATED = "Generated from `{keys}` in `bundle/site.yml` by `make rules`; edit it there."


def contacts(tiers: list[str], alert: Alert | None = None) -> list[str]:
    """Who answers, per tier (highest first), and the P0 path beyond the lower tiers."""
    lines = []
    for tier in sorted(tiers, key=TIERS.index):
        label = severity_label(alert, tier) if alert else SITE.severities[tier]
        lines.append(f"{PRIORITY[tier]} (`severity={label}`): {SITE.contacts[tier]}")
    if "critical" not in tiers:
        lines.append(f"Beyond that (money at risk, or no answer): the P0 path, {SITE.contacts['critical']}")
    return lines


def contact_tree(alert: Alert | None) -> str:
    """An alert's runbook: its tiers'; a procedure runbook (several alerts lead to it): every tier's."""
    lines = [CONTACT_TREE, GENERATED.format(keys="contacts"), ""]
    lines += [f"- {line}" for line in contacts(list(alert.tiers) if alert else list(TIERS), alert)]
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    """A YAML scalar that stays a string whatever it holds (JSON strings are YAML)."""
    return json.dumps(value, ensure_ascii=False)


def front_matter(name: str, alert: Alert | None) -> str:
    """The runbook's YAML front matter: owner, review dates and who answers."""
    review = SITE.runbooks
    last: datetime.date = review.reviewed.get(name, review.last_reviewed)
    lines = ["---", f"# {GENERATED.format(keys='runbooks` and `contacts')}"]
    if alert is not None:
        lines += [f"alert: {alert.name}", f"tiers: [{', '.join(sorted(alert.tiers, key=TIERS.index))}]"]
    lines += [
        f"owner: {_string(review.owners.get(name, review.owner))}",
        f"last_reviewed: {last.isoformat()}",
        f"next_review: {(last + datetime.timedelta(days=review.review_every_days)).isoformat()}",
        "contacts:",
        *(f"  - {_string(c)}" for c in contacts(list(alert.tiers) if alert else list(TIERS), alert)),
        "---",
    ]
    return "\n".join(lines) + "\n"


def strip_front_matter(text: str) -> str:
    """The text after a leading ``---`` ... ``---`` block (unchanged without one)."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 3)
        if end >= 0:
            return text[end + len("\n---\n") :]
    return text


def _replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with its ``heading`` section (up to the next ``## ``) replaced by ``section``, at the end."""
    start = text.find("\n" + heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + (text[end + 1 :] if end >= 0 else "")
    return text.rstrip("\n") + "\n\n" + section


def _check_names(names: set[str]) -> None:
    review = SITE.runbooks
    for key, named in (("owners", review.owners), ("reviewed", review.reviewed)):
        for name in named:
            if name not in names:
                raise SiteError(
                    f"bundle/site.yml: runbooks.{key}.{name}: no runbook docs/runbooks/{name}.md "
                    f"(expected one of: {', '.join(sorted(names))})"
                )


def runbooks() -> dict[str, str]:
    """Every runbook with its front matter, each alert's with its contact tree, and the incident
    process with who answers (re)generated."""
    by_name = {a.name: a for a in ALERTS}
    paths = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
    _check_names({p.stem for p in paths} | {"incident-response"})
    out = {}
    for path in paths:
        alert = by_name.get(path.stem)
        body = strip_front_matter(path.read_text())
        body = _replace_section(body, CONTACT_TREE, contact_tree(alert))
        out[f"docs/runbooks/{path.name}"] = front_matter(path.stem, alert) + body
    # An alert without its runbook is reported by tests/test_rules.py.
    incident = ROOT / INCIDENT_RESPONSE
    if incident.exists():
        who = "\n".join(
            [WHO_ANSWERS, GENERATED.format(keys="contacts"), "", *(f"- {c}" for c in contacts(list(TIERS)))]
        )
        body = _replace_section(strip_front_matter(incident.read_text()), WHO_ANSWERS, who + "\n")
        out[INCIDENT_RESPONSE] = front_matter("incident-response", None) + body
    return out
