"""Book-keeping faults of the demo ledger, for the reconciliation drills (``POST /_actions``).

Each one is a way real books go wrong while the chain is right:

* ``ledger_drop_entry``: the next balance-moving entry (deposit, fee, refund, withdrawal) is never
  written, as when a back end crashes between the transfer and its ledger write (``account``:
  the next one of that escrow account);
* ``ledger_duplicate_entry``: the next balance-moving entry is written twice (a retried write);
* ``ledger_forget_escrow``: the books lose an escrow account (its row and entries), as when an
  escrow was created on chain but never recorded; later entries for it fail as unknown accounts;
* ``ledger_misspell_mint``: the escrow account's mint is stored spelled differently (lower case);
* ``ledger_phantom_entry``: an entry for a transaction that never lands (a signature, no slot).

Requests come from the server's thread; the ledger's writer thread applies them inside its next
batch, so they are ordered with the entries around them. ``applied`` records what each fault
did (account, kind, exact raw amount), which ``GET /_state`` shows under ``ledger_faults``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

#: Entry kinds that change what the books say an escrow account holds (a payout stays in escrow).
BALANCE_KINDS = ("deposit", "fee", "refund", "withdrawal")
ACTIONS = (
    "ledger_drop_entry",
    "ledger_duplicate_entry",
    "ledger_forget_escrow",
    "ledger_misspell_mint",
    "ledger_phantom_entry",
)


class _Backend(Protocol):
    def timestamp(self, unix: float) -> Any: ...

    def amount(self, whole: str) -> Any: ...


class LedgerFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        #: Pending drops / duplicates, each for one account (None: any).
        self._drop: list[str | None] = []
        self._duplicate: list[str | None] = []
        #: Escrow accounts the books no longer know (ledger_forget_escrow).
        self.forgotten: set[str] = set()
        self.applied: list[dict[str, Any]] = []
        #: The entry being written (account, raw amount), set by the ledger around copies_of_entry.
        self.current: tuple[str, int] | None = None

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue one fault (called from the server's thread); returns what the action answers."""
        action = body["action"]
        if action not in ACTIONS:
            raise ValueError(f"unknown ledger action {action!r}")
        with self._lock:
            account = body.get("account")
            if action == "ledger_drop_entry":
                self._drop.append(None if account is None else str(account))
            elif action == "ledger_duplicate_entry":
                self._duplicate.append(None if account is None else str(account))
            else:
                self._requests.append(dict(body))
        return {"action": action, "queued": True}

    def copies_of_entry(self, kind: str, account: str | None, raw: int) -> int:
        """How many times the entry is written: 1, or 0 / 2 while a drop / duplicate is pending."""
        if kind not in BALANCE_KINDS or raw <= 0:
            return 1
        with self._lock:
            for pending, fault, copies in ((self._drop, "drop", 0), (self._duplicate, "duplicate", 2)):
                for i, wanted in enumerate(pending):
                    if wanted in (None, account):
                        del pending[i]
                        self.applied.append({"fault": fault, "account": account, "kind": kind, "raw": raw})
                        return copies
        return 1

    def apply_requests(
        self, run: Callable[[str, tuple[Any, ...]], None], backend: _Backend, now: float
    ) -> None:
        """Issue the statements of the queued account-level faults (writer thread)."""
        with self._lock:
            requests, self._requests = self._requests, []
        for body in requests:
            action = body["action"]
            account = str(
                body.get("account", "escrow_sol" if action == "ledger_phantom_entry" else "escrow_pyusd")
            )
            if action == "ledger_forget_escrow":
                self.forgotten.add(account)
                run("DELETE FROM ledger_entries WHERE escrow_account = ?", (account,))
                run("DELETE FROM escrow_accounts WHERE name = ?", (account,))
            elif action == "ledger_misspell_mint":
                run("UPDATE escrow_accounts SET mint = LOWER(mint) WHERE name = ?", (account,))
            elif action == "ledger_phantom_entry":
                mint = str(body.get("mint", "SOL"))
                whole = str(body.get("amount", "1"))
                run(
                    "INSERT INTO ledger_entries (kind, amount, mint, escrow_account, signature, slot, created_at) "
                    "VALUES ('deposit', ?, ?, ?, ?, NULL, ?)",
                    (
                        backend.amount(whole),
                        mint,
                        account,
                        "phantom-" + str(len(self.applied)),
                        backend.timestamp(now),
                    ),
                )
            self.applied.append({"fault": action.removeprefix("ledger_"), "account": account})
