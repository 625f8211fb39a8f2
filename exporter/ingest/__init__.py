"""Anchor transaction ingestion with exact, crash-safe totals.

* ``state``: the SQLite state file (cursor + counter totals, saved atomically);
* ``signatures``: getSignaturesForAddress paging (gap handling, backfill start);
* ``ingester``: one program's cycle (batch fetch, decode, count, commit);
* ``mapping``: config-driven event -> counters (amounts, capped labels);
* ``account_layout``: partial account decoding and dataSlice for program-account state.
* ``logs_source``: the PubSub ``logsSubscribe`` push source (``source: logs``), counted by
  ``ingester.on_notified_many``; ``logs_instructions`` names instructions from logs.

The collectors that schedule and render them are ``exporter.collectors.ingest`` and
``exporter.collectors.program_accounts``.
"""
