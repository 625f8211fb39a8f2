"""Write prometheus/rules/*.yml, prometheus/tests/*.yml, docs/alerts.md, the site's Alertmanager
templates and alertmanager/alertmanager.yml from bundle/site.yml, bundle/config.py and
bundle/alertmanager.yml.

python scripts/gen_rules.py          # regenerate in the repository
python scripts/gen_rules.py --check  # exit 1 listing files that differ (what the drift test does)
python scripts/gen_rules.py --site my-site.yml --out DIR
    # render for another site file into DIR: the files above, plus the Kubernetes PrometheusRule
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere; bundle/ is not installed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    parser.add_argument("--site", help="site config to render (default: bundle/site.yml)")
    parser.add_argument("--out", help="write into this directory instead of the repository")
    args = parser.parse_args()
    if args.site:
        os.environ["ESCROW_BUNDLE_SITE"] = str(Path(args.site).resolve())
    from bundle import site
    from bundle.site import SiteError

    try:
        from bundle import prometheusrule
        from bundle.render import all_files
    except SiteError as e:
        print(f"site config: {e}", file=sys.stderr)
        return 2
    # Not an error: the demo runs on the example links. Said on every run until they are changed.
    for warning in site.example_links():
        print(warning, file=sys.stderr)
    out = Path(args.out) if args.out else ROOT
    try:
        files = all_files()
    except SiteError as e:  # e.g. a runbook named in the site config that does not exist
        print(f"site config: {e}", file=sys.stderr)
        return 2
    if args.out:
        files[prometheusrule.OUTPUT] = prometheusrule.render()
    drift = []
    for rel, text in files.items():
        path = out / rel
        if args.check:
            if not path.exists() or path.read_text() != text:
                drift.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if args.out:
        shutil.copy(ROOT / "alertmanager" / "templates" / "escrow.tmpl", out / "alertmanager" / "templates")
    if drift:
        print("out of date (run python scripts/gen_rules.py): " + ", ".join(drift), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
