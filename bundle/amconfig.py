"""Derive deployable and test copies of ``alertmanager/alertmanager.yml``.

Alertmanager 0.25 reads Slack URLs (``api_url_file``) and PagerDuty keys (``routing_key_file``)
from files, but has no ``*_file`` for Discord webhook URLs or generic webhook URLs. Those URLs
carry their secret, so they are rendered into a deployed copy at install time and never committed:

    python -m bundle.amconfig --out /etc/alertmanager/alertmanager.yml \\
        --discord-webhook-url-file /etc/alertmanager/secrets/discord_webhook_url \\
        [--deadmans-url-file /etc/alertmanager/secrets/deadmans_switch_url]

With ``email_digest`` in the site config (``bundle/site.yml``), the rendered copy also e-mails the
low tier's digest once a day (``add_email_digest``).

``for_test`` points every receiver at local loopback receivers (tests/support/receivers.py) with short
timings, keeping the real routes, inhibitions and templates under test.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from bundle.config import SITE
from bundle.site import EmailDigest

ROOT = Path(__file__).resolve().parent.parent
AM_DIR = ROOT / "alertmanager"
AM_CONFIG = AM_DIR / "alertmanager.yml"

DISCORD_RECEIVER = "discord"
EMAIL_DIGEST_RECEIVER = "email-digest"
# The optional extra channel mirrors the paging tiers.
DISCORD_MATCHERS = ['severity=~"critical|high"']  # renamed to the site's names by add_discord
#: group_by of the critical and high routes in alertmanager.yml (tests/test_alertmanager.py checks).
PAGING_GROUP_BY = ["alertname", "program", "account", "mint", "instance", "database"]


def load(path: Path = AM_CONFIG, *, site: bool = True) -> dict[str, Any]:
    """The config, its ``severity`` matchers renamed to the site's (``bundle/site.yml``) unless
    ``site`` is false: the repository's file names the tiers critical/high/medium/low."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return with_site_severities(data) if site else data


_SEVERITY_MATCHER = re.compile(r'^severity(=~|=|!=|!~)"([^"]*)"$')


def with_site_severities(cfg: dict[str, Any]) -> dict[str, Any]:
    """Rename the tiers in every ``severity`` matcher (routes and inhibitions) to the site's names."""
    names = SITE.severities

    def rename(matcher: str) -> str:
        m = _SEVERITY_MATCHER.match(matcher)
        if not m:
            return matcher
        values = "|".join(names.get(v, v) for v in m.group(2).split("|"))
        return f'severity{m.group(1)}"{values}"'

    out = copy.deepcopy(cfg)
    for route in _routes(out["route"]):
        if "matchers" in route:
            route["matchers"] = [rename(x) for x in route["matchers"]]
    for rule in out.get("inhibit_rules", []):
        for key in ("source_matchers", "target_matchers"):
            rule[key] = [rename(x) for x in rule.get(key, [])]
    return out


def add_discord(cfg: dict[str, Any], webhook_url: str) -> dict[str, Any]:
    """A copy of ``cfg`` that also sends critical and high alerts to a Discord webhook."""
    out = copy.deepcopy(cfg)
    out["receivers"].append(
        {
            "name": DISCORD_RECEIVER,
            "discord_configs": [
                {
                    "webhook_url": webhook_url,
                    "send_resolved": True,
                    "title": '{{ template "escrow.slack.title" . }}',
                    "message": '{{ template "escrow.discord.message" . }}',
                }
            ],
        }
    )
    route = {
        "matchers": with_site_severities({"route": {"matchers": DISCORD_MATCHERS}})["route"]["matchers"],
        "receiver": DISCORD_RECEIVER,
        # As the paging tiers' routes: one message thread per affected account and exporter.
        "group_by": list(PAGING_GROUP_BY),
        "group_wait": "10s",
        "group_interval": "1m",
        "repeat_interval": "1h",
        # Keep matching: the tier's own route (PagerDuty + Slack) must still get the alert.
        "continue": True,
    }
    routes = out["route"]["routes"]
    after_watchdog = next(i + 1 for i, r in enumerate(routes) if r["receiver"] == "deadmans-switch")
    routes.insert(after_watchdog, route)
    return out


def add_email_digest(cfg: dict[str, Any], digest: EmailDigest) -> dict[str, Any]:
    """A copy of ``cfg`` that also e-mails the low tier's digest once a day (the site config's
    ``email_digest``): firing alerts and those resolved since the previous e-mail, plain text."""
    out = copy.deepcopy(cfg)
    email: dict[str, Any] = {
        "to": digest.to,
        "from": digest.sender,
        "smarthost": digest.smarthost,
        "require_tls": digest.require_tls,
        "send_resolved": True,
        "headers": {"Subject": '{{ template "escrow.email.digest_subject" . }}'},
        "text": '{{ template "escrow.email.digest_text" . }}',
        "html": "",  # plain text only: the default HTML template is a page of boilerplate
    }
    if digest.auth_username:
        email["auth_username"] = digest.auth_username
        email["auth_password_file"] = digest.auth_password_file
    out["receivers"].append({"name": EMAIL_DIGEST_RECEIVER, "email_configs": [email]})
    routes = out["route"]["routes"]
    low = next(i for i, r in enumerate(routes) if r["receiver"] == "slack-low-digest")
    routes.insert(
        low,
        {
            "matchers": list(routes[low]["matchers"]),
            "receiver": EMAIL_DIGEST_RECEIVER,
            "group_by": ["severity"],
            "group_wait": "10m",
            # Once a day: an e-mail per day at most, with what fired and what resolved since.
            "group_interval": "24h",
            "repeat_interval": "24h",
            # Keep matching: the hourly Slack digest still gets every low alert.
            "continue": True,
        },
    )
    return out


def set_deadmans_url(cfg: dict[str, Any], url: str) -> dict[str, Any]:
    out = copy.deepcopy(cfg)
    for r in out["receivers"]:
        for w in r.get("webhook_configs", []):
            w["url"] = url
    return out


def _routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    found = [route]
    for child in route.get("routes", []):
        found.extend(_routes(child))
    return found


def for_test(
    cfg: dict[str, Any],
    receivers_url: str,
    secrets_dir: Path,
    *,
    pagerduty_keys: dict[str, str] | None = None,
    timing: str = "1s",
    repeat: str = "1h",
    discord: bool = True,
) -> dict[str, Any]:
    """Point ``cfg`` at loopback receivers: Slack at ``/slack/<secret file name>``, PagerDuty at
    ``/v2/enqueue`` with a key per secret file (``pagerduty_keys`` maps file name -> key), the
    dead-man's switch at ``/deadman`` and Discord at ``/discord``. Timings become ``timing``."""
    out = add_discord(cfg, f"{receivers_url}/discord") if discord else copy.deepcopy(cfg)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    keys = pagerduty_keys or {}
    for r in out["receivers"]:
        for s in r.get("slack_configs", []):
            name = Path(s["api_url_file"]).name
            (secrets_dir / name).write_text(f"{receivers_url}/slack/{name}\n")
            s["api_url_file"] = str(secrets_dir / name)
        for p in r.get("pagerduty_configs", []):
            name = Path(p["routing_key_file"]).name
            (secrets_dir / name).write_text(keys.get(name, f"test-{name}") + "\n")
            p["routing_key_file"] = str(secrets_dir / name)
            p["url"] = f"{receivers_url}/v2/enqueue"
        for w in r.get("webhook_configs", []):
            w["url"] = f"{receivers_url}/deadman"
            creds = w.get("http_config", {}).get("authorization", {})
            if "credentials_file" in creds:
                (secrets_dir / "deadmans_switch_token").write_text("test-deadman-token\n")
                creds["credentials_file"] = str(secrets_dir / "deadmans_switch_token")
    for route in _routes(out["route"]):
        for key in ("group_wait", "group_interval"):
            if key in route or route is out["route"]:
                route[key] = timing
        if "repeat_interval" in route or route is out["route"]:
            route["repeat_interval"] = repeat
    out["templates"] = [str(AM_DIR / "templates" / "*.tmpl")]
    return out


def dump(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, width=10_000)


def _read_secret(path: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as e:
        raise SystemExit(f"cannot read {path}: {e.strerror}") from None
    if not value.startswith("https://"):
        raise SystemExit(f"{path}: expected an https:// URL on the first line")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render a deployable alertmanager.yml with URL secrets.")
    parser.add_argument("--config", default=str(AM_CONFIG), help="source config (default: the repository's)")
    parser.add_argument("--out", required=True, help="where to write the rendered config (mode 0600)")
    parser.add_argument("--discord-webhook-url-file", help="file holding the Discord webhook URL")
    parser.add_argument("--deadmans-url-file", help="file holding the dead-man's-switch URL")
    args = parser.parse_args(argv)
    cfg = load(Path(args.config))
    if args.discord_webhook_url_file:
        cfg = add_discord(cfg, _read_secret(args.discord_webhook_url_file))
    if args.deadmans_url_file:
        cfg = set_deadmans_url(cfg, _read_secret(args.deadmans_url_file))
    if SITE.email_digest is not None:
        cfg = add_email_digest(cfg, SITE.email_digest)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Rendered by python -m bundle.amconfig; contains secrets, do not commit.\n" + dump(cfg))
    print(
        f"wrote {args.out}; copy alertmanager/templates/ next to it, then run amtool check-config {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
