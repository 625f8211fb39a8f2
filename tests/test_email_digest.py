"""The optional e-mail daily digest of the low tier (seed 004's "e-mail daily summaries"): off by
default, set in the site config (``email_digest``), rendered by ``bundle/amconfig.py`` into a
config amtool accepts, and delivered by a real Alertmanager to a loopback SMTP server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from bundle import amconfig, site
from bundle.config import SITE
from tests.support.receivers import Receivers
from tests.support.smtp_sink import SmtpSink
from tests.support.util import ROOT, free_port, stop_process, wait_http

pytestmark = pytest.mark.skipif(
    not (shutil.which("amtool") and shutil.which("prometheus-alertmanager")), reason="needs Alertmanager"
)
SECTION = """
email_digest:
  to: escrow-ops@example.com
  from: alertmanager@example.com
  smarthost: smtp.example.com:587
  auth_username: alertmanager@example.com
  auth_password_file: /etc/alertmanager/secrets/smtp_password
"""


def _site_file(tmp_path: Path, section: str = SECTION) -> Path:
    path = tmp_path / "site.yml"
    path.write_text(site.DEFAULT_PATH.read_text() + section)
    return path


def _routes(config: Path, *labels: str) -> list[str]:
    r = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}", *labels],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().replace(",", " ").split()


def test_off_by_default() -> None:
    assert SITE.email_digest is None
    assert all("email_configs" not in r for r in amconfig.load()["receivers"])
    # The example in the site file is commented out, complete.
    example = re.search(r"^# (email_digest:\n(?:#   .*\n)+)", site.DEFAULT_PATH.read_text(), re.M)
    assert example, "bundle/site.yml lost its commented email_digest example"
    assert set(yaml.safe_load(example.group(1).replace("#   ", "  "))["email_digest"]) == {
        "to", "from", "smarthost", "auth_username", "auth_password_file", "require_tls"
    }  # fmt: skip


def test_rendered_config_mails_the_low_digest_daily_and_amtool_accepts_it(tmp_path: Path) -> None:
    """`python -m bundle.amconfig --out` with a site config that sets email_digest."""
    out = tmp_path / "alertmanager.yml"
    shutil.copytree(ROOT / "alertmanager" / "templates", tmp_path / "templates")
    env = {**os.environ, site.ENV_VAR: str(_site_file(tmp_path))}
    r = subprocess.run(
        [sys.executable, "-m", "bundle.amconfig", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    check = subprocess.run(["amtool", "check-config", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    low, medium = SITE.severities["low"], SITE.severities["medium"]
    assert _routes(out, "alertname=EscrowLogsTruncated", f"severity={low}") == [
        "email-digest",
        "slack-low-digest",
    ]
    assert _routes(out, "alertname=EscrowOutboxBacklog", f"severity={medium}") == ["slack-medium"]
    cfg = yaml.safe_load(out.read_text())
    [email] = next(r for r in cfg["receivers"] if r["name"] == "email-digest")["email_configs"]
    assert (
        email["auth_password_file"] == "/etc/alertmanager/secrets/smtp_password"
        and "auth_password" not in email
    )
    assert email["require_tls"] is True and email["send_resolved"] is True
    route = next(r for r in cfg["route"]["routes"] if r["receiver"] == "email-digest")
    assert (route["group_interval"], route["repeat_interval"], route["continue"]) == ("24h", "24h", True)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (SECTION.replace("escrow-ops@example.com", "ops, sre"), "email_digest.to: expected one e-mail address"),
        (SECTION.replace("smtp.example.com:587", "smtp.example.com"), "email_digest.smarthost: expected host:port"),
        (SECTION.replace("  auth_username: alertmanager@example.com\n", ""), "auth_username and auth_password_file go together"),
        (SECTION.replace("smarthost:", "smart_host:"), "email_digest.smart_host: unknown key"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_line_and_key(tmp_path: Path, section: str, problem: str) -> None:
    path = _site_file(tmp_path, section)
    with pytest.raises(site.SiteError) as e:
        site.load(path)
    assert str(e.value).startswith(f"{path}:") and problem in str(e.value)


def test_alertmanager_mails_the_digest_with_what_fired(tmp_path: Path) -> None:
    with Receivers() as rx, SmtpSink() as smtp:
        digest = site.EmailDigest(
            "escrow-ops@example.com",
            "alertmanager@example.com",
            f"127.0.0.1:{smtp.port}",
            None,
            None,
            require_tls=False,
        )
        cfg = amconfig.for_test(
            amconfig.add_email_digest(amconfig.load(), digest), rx.url, tmp_path / "secrets"
        )
        (tmp_path / "am.yml").write_text(amconfig.dump(cfg))
        port = free_port()
        with open(tmp_path / "am.log", "wb") as log:
            am = subprocess.Popen(
                [
                    "prometheus-alertmanager",
                    f"--config.file={tmp_path / 'am.yml'}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--web.external-url=http://127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=20)
            alert = {
                "labels": {
                    "alertname": "EscrowLogsTruncated",
                    "severity": SITE.severities["low"],
                    "program": "paid_match",
                },
                "annotations": {
                    "summary": "Transaction logs were truncated.",
                    "description": "3 transactions of paid_match had truncated logs in the last hour.",
                    "runbook_url": "https://runbooks.example/EscrowLogsTruncated.md",
                    "dashboard_url": "http://localhost:3000/d/escrow-chain-rpc",
                },
            }
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/alerts",
                data=json.dumps([alert]).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(req, timeout=5).close()
            try:
                [mail] = smtp.wait_for(1, timeout=30)
            except TimeoutError:
                raise AssertionError((tmp_path / "am.log").read_text()[-3000:]) from None
            # The hourly Slack digest still gets it (the e-mail route continues).
            rx.wait_for(lambda: rx.find("slack", "EscrowLogsTruncated"))
        finally:
            stop_process(am)
    assert mail.recipients == ["escrow-ops@example.com"] and mail.sender == "alertmanager@example.com"
    assert mail.subject == "[escrow] Daily low-priority digest: 1 firing"
    text = mail.text()
    for expected in (
        "Tier: low (P3)",
        "EscrowLogsTruncated (paid_match): Transaction logs were truncated.",
        "3 transactions of paid_match had truncated logs in the last hour.",
        "Runbook: https://runbooks.example/EscrowLogsTruncated.md",
        f"Silence this digest: http://127.0.0.1:{port}/#/silences/new",
    ):
        assert expected in text, text
    assert mail.message.get_body(("html",)) is None  # plain text only
