"""promtool unit-test cases for every alert: it fires, it stays quiet just below the threshold.

Each case gives input series, an evaluation time and the alerts expected then, with their labels
and the rendered value. ``bundle.render`` turns them into ``prometheus/tests/*.yml``; the expected
description is the rule's template with ``$labels``/``$value`` substituted, so promtool checks
both the rule and what the description really says. Boundary values come from the site's
thresholds (bundle/site.yml), so a site with other thresholds still has cases just above (fires)
and exactly at (quiet) each of them.

One module per rule group (its cases become ``prometheus/tests/<group>*_test.yml``), the
``treasury`` group in three: ``balances``, ``withdrawals`` and ``reconciliation``. ``common`` holds
the ``Case`` type and the helpers every module uses, ``series`` the selectors several modules
(and ``bundle.drill``) share; the SLO and platform cases are in ``bundle.slo_cases``.
"""

from __future__ import annotations

from bundle.cases.balances import BALANCE_CASES
from bundle.cases.business import BUSINESS_CASES
from bundle.cases.capacity import CAPACITY_CASES
from bundle.cases.chain import CHAIN_CASES
from bundle.cases.common import Case
from bundle.cases.exporter_health import EXPORTER_CASES
from bundle.cases.meta import META_CASES
from bundle.cases.reconciliation import RECONCILIATION_CASES
from bundle.cases.rpc import RPC_CASES
from bundle.cases.withdrawals import WITHDRAWAL_CASES
from bundle.slo_cases import cases as slo_cases

# A test file holds its group's cases in this order: the treasury group's balances, then its
# withdrawals, then its exact reconciliation.
CASES: list[Case] = [
    *EXPORTER_CASES,
    *RPC_CASES,
    *BALANCE_CASES,
    *WITHDRAWAL_CASES,
    *RECONCILIATION_CASES,
    *CHAIN_CASES,
    *BUSINESS_CASES,
    *META_CASES,
    *CAPACITY_CASES,
    *slo_cases(),
]
