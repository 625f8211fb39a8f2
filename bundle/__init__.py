"""The monitoring bundle: alert and recording rules, tiers and thresholds defined once.

``bundle/site.yml`` (validated by ``bundle.site``) holds what is site-specific: selectors,
thresholds, floors, severity names, contacts and links; ``bundle.config`` holds the rules' logic;
``scripts/gen_rules.py`` renders ``prometheus/rules/*.yml``, ``prometheus/tests/*.yml`` and the
table in ``docs/alerts.md`` from it, and a test fails when the committed files drift.
"""
