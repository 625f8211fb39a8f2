"""The monitoring bundle: alert and recording rules, tiers and thresholds defined once.

``bundle.config`` is the single place where selectors, thresholds, tiers and links live;
``scripts/gen_rules.py`` renders ``prometheus/rules/*.yml``, ``prometheus/tests/*.yml`` and the
table in ``docs/alerts.md`` from it, and a test fails when the committed files drift.
"""
