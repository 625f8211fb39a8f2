"""``escrow_exporter_state_file_bytes``: the size of the ingestion state file, read at each scrape,
so that its growth can be forecast (``predict_linear``) before the disk it lives on fills up."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

#: SQLite's write-ahead log lives beside the file and is part of its footprint until checkpointed.
_PARTS = ("", "-wal")


class StateFileSize:
    """A registry collector: the state file's bytes on disk (main file plus its -wal journal).
    Absent while the file does not exist yet (before the first ingestion cycle creates it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        total = 0
        for part in _PARTS:
            try:
                total += os.stat(self.path + part).st_size
            except OSError:
                if not part:  # no state file (yet), or not readable: no value rather than a 0
                    return
        fam = GaugeMetricFamily(
            "escrow_exporter_state_file_bytes",
            "Size of the ingestion state file on disk (with its -wal journal), in bytes.",
        )
        fam.add_metric([], total)
        yield fam
