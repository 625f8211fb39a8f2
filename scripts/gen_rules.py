"""Write prometheus/rules/*.yml, prometheus/tests/*.yml and docs/alerts.md from bundle/config.py.

python scripts/gen_rules.py          # regenerate
python scripts/gen_rules.py --check  # exit 1 listing files that differ (what the drift test does)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere; bundle/ is not installed

from bundle.render import all_files  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args()
    drift = []
    for rel, text in all_files().items():
        path = ROOT / rel
        if args.check:
            if not path.exists() or path.read_text() != text:
                drift.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if drift:
        print("out of date (run python scripts/gen_rules.py): " + ", ".join(drift), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
