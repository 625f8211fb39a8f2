"""Instruction names from a notification's logs (the logs source) match what getTransaction's
instruction data names, and the cases the logs cannot serve are flagged for a full fetch."""

from __future__ import annotations

from exporter.ingest.logs_instructions import camel, logged_instructions

ME = "Me11111111111111111111111111111111111111111"
TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
NAMES = {camel(n): n for n in ("create_match", "join_match", "settle_match")}


def test_names_in_execution_order_cpis_into_other_programs_left_out() -> None:
    logs = [
        f"Program {ME} invoke [1]",
        "Program log: Instruction: CreateMatch",
        f"Program {TOKEN} invoke [2]",
        "Program log: Instruction: TransferChecked",  # the token program's, not ours
        f"Program {TOKEN} success",
        f"Program {ME} success",
        f"Program {ME} invoke [1]",
        "Program log: Instruction: JoinMatch",
        f"Program {ME} failed: custom program error: 0x1771",
    ]
    got = logged_instructions(logs, ME, NAMES)
    assert (got.names, got.emit_cpi, got.unnamed) == (["create_match", "join_match"], False, False)


def test_an_emit_cpi_self_invocation_asks_for_the_transaction() -> None:
    logs = [
        f"Program {ME} invoke [1]",
        "Program log: Instruction: SettleMatch",
        f"Program {ME} invoke [2]",  # Anchor's event CPI: no Instruction line
        f"Program {ME} consumed 1200 of 190000 compute units",
        f"Program {ME} success",
        f"Program {ME} success",
    ]
    got = logged_instructions(logs, ME, NAMES)
    assert got.names == ["settle_match"] and got.emit_cpi and not got.unnamed


def test_an_invocation_the_logs_do_not_name_asks_for_the_transaction() -> None:
    logs = [f"Program {ME} invoke [1]", f"Program {ME} success"]
    got = logged_instructions(logs, ME, NAMES)
    assert got.names == [] and got.unnamed and not got.emit_cpi
