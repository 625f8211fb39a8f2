"""Event attribution in transaction logs and inner instructions, and robustness against garbage."""

from __future__ import annotations

import base64
import copy
import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.anchor import EMIT_CPI_TAG, EventDecoder, TxDecodeResult, load_idl, parse_idl
from tests.support.anchor_encoder import (
    AnchorEncoder,
    b58encode,
    emit_cpi_tx,
    emit_log_tx,
    log_data_line,
    transaction,
)
from tests.support.kitchen_idl import KITCHEN
from tests.support.util import ROOT

OTHER = "Othr111111111111111111111111111111111111111"
OUTER = "Outer11111111111111111111111111111111111111"

DEC, ENC = EventDecoder(parse_idl(copy.deepcopy(KITCHEN))), AnchorEncoder(copy.deepcopy(KITCHEN))
PID = DEC.program_id
RNG = random.Random(3)
EV1, V1 = ENC.random_event("Shape", RNG)
EV2, V2 = ENC.random_event("Everything", RNG)


def _names(res: TxDecodeResult) -> list[tuple[str, str]]:
    return [(e.name, e.source) for e in res.events]


def test_log_events_of_our_program_in_order() -> None:
    res = DEC.decode_transaction(emit_log_tx(PID, [EV1, EV2, EV1]))
    assert _names(res) == [("Shape", "log"), ("Everything", "log"), ("Shape", "log")]
    assert [e.data for e in res.events] == [V1, V2, V1]
    assert res.compute_units == [12345] and not res.failed


def test_our_program_invoked_by_an_outer_program_counts() -> None:
    res = DEC.decode_transaction(emit_log_tx(PID, [EV1], outer=OUTER))
    assert _names(res) == [("Shape", "log")]


def test_our_bytes_logged_inside_a_cpi_to_another_program_do_not_count() -> None:
    logs = [
        f"Program {PID} invoke [1]",
        log_data_line(EV1),  # ours
        f"Program {OTHER} invoke [2]",
        log_data_line(EV2),  # looks like ours, but OTHER is on top: not ours
        f"Program {OTHER} consumed 100 of 1000 compute units",
        f"Program {OTHER} success",
        log_data_line(EV2),  # back in our frame: ours
        f"Program {PID} success",
        f"Program {OTHER} invoke [1]",
        log_data_line(EV1),  # another top-level program: not ours
        f"Program {OTHER} success",
        log_data_line(EV1),  # outside any frame: not ours
    ]
    res = DEC.decode_transaction(transaction(logs=logs))
    assert _names(res) == [("Shape", "log"), ("Everything", "log")]
    assert res.decode_errors == []


def test_depth_resynchronises_a_stack_with_missing_closing_lines() -> None:
    logs = [
        f"Program {PID} invoke [1]",
        f"Program {OTHER} invoke [2]",  # never closed
        f"Program {PID} invoke [2]",  # depth 2 again: OTHER has ended
        log_data_line(EV1),
    ]
    assert _names(DEC.decode_transaction(transaction(logs=logs))) == [("Shape", "log")]


def test_truncated_logs_are_detected_and_cpi_events_still_decode() -> None:
    tx = emit_cpi_tx(PID, [EV2])
    tx["meta"]["logMessages"] = tx["meta"]["logMessages"][:2] + ["Log truncated"]
    res = DEC.decode_transaction(tx)
    assert res.logs_truncated
    assert _names(res) == [("Everything", "cpi")] and res.events[0].data == V2


def test_emit_cpi_only_for_our_program_and_only_inner() -> None:
    tx = emit_cpi_tx(PID, [EV1])
    inner = tx["meta"]["innerInstructions"][0]["instructions"]
    other_keys = tx["transaction"]["message"]["accountKeys"] + [OTHER]
    tx["transaction"]["message"]["accountKeys"] = other_keys
    # the same emit_cpi bytes as an inner instruction of another program are not ours
    inner.append(
        {"programIdIndex": len(other_keys) - 1, "accounts": [], "data": b58encode(EMIT_CPI_TAG + EV2)}
    )
    # our inner instruction that is not an emit_cpi (no tag) is an instruction, not an event
    inner.append({"programIdIndex": 2, "accounts": [], "data": b58encode(bytes([1, 2, 3, 4, 5, 6, 7, 8]))})
    res = DEC.decode_transaction(tx)
    assert _names(res) == [("Shape", "cpi")]
    assert res.compute_units == [30000]  # the outer frame only, not the emit_cpi self-invocations
    assert DEC.instruction_names(tx) == ["unknown", "do_it"]


def test_v0_program_index_resolves_through_loaded_addresses() -> None:
    """programIdIndex counts static keys, then loaded writable, then loaded readonly."""
    data = b58encode(EMIT_CPI_TAG + EV1)
    tx = transaction(
        account_keys=["Payer1111111111111111111111111111111111111"],
        instructions=[
            {"programIdIndex": 3, "accounts": [], "data": b58encode(bytes([1, 2, 3, 4, 5, 6, 7, 8]))}
        ],
        inner=[
            {
                "index": 0,
                "instructions": [
                    {"programIdIndex": 3, "accounts": [], "data": data},
                    {"programIdIndex": 2, "accounts": [], "data": data},
                ],
            }
        ],
        loaded={"writable": [OUTER], "readonly": [OTHER, PID]},
    )
    assert _names(DEC.decode_transaction(tx)) == [("Shape", "cpi")]
    assert DEC.instruction_names(tx) == ["do_it"]


def test_undecodable_payloads_are_reported_and_skipped() -> None:
    logs = [
        f"Program {PID} invoke [1]",
        "Program data: !!!notbase64",
        "Program data: " + base64.b64encode(b"\x99" * 12).decode(),
        "Program data: " + base64.b64encode(EV1[:9]).decode(),
        "Program data: " + base64.b64encode(b"\x01").decode(),
        log_data_line(EV1),
        f"Program {PID} success",
    ]
    tx = transaction(logs=logs)
    tx["meta"]["innerInstructions"] = [{"index": 0, "instructions": [{"programIdIndex": 0, "data": "0OIl"}]}]
    tx["transaction"]["message"]["accountKeys"] = [PID]
    res = DEC.decode_transaction(tx)
    assert _names(res) == [("Shape", "log")]
    assert res.decode_errors == [
        "invalid_base64",
        "unknown_discriminator",
        "short_data",
        "unknown_discriminator",
        "invalid_base58",
    ]


def test_failed_transaction_error_label() -> None:
    logs = [f"Program {PID} invoke [1]", f"Program {PID} failed: custom program error: 0x1770"]
    tx = transaction(logs=logs, err={"InstructionError": [0, {"Custom": 6000}]})
    res = DEC.decode_transaction(tx)
    assert res.failed and res.error == "Boom"
    # another program's custom code is not named from our IDL
    logs = [
        f"Program {PID} invoke [1]",
        f"Program {OTHER} invoke [2]",
        f"Program {OTHER} failed: custom program error: 0x1770",
        f"Program {PID} failed: custom program error: 0x1770",
    ]
    assert (
        DEC.decode_transaction(transaction(logs=logs, err={"InstructionError": [0, {"Custom": 6000}]})).error
        == "6000"
    )
    assert DEC.error_label({"InstructionError": [1, "InvalidAccountData"]}) == "InvalidAccountData"
    assert DEC.error_label("AccountInUse") == "AccountInUse"
    assert DEC.error_label({"InsufficientFundsForRent": {"account_index": 2}}) == "InsufficientFundsForRent"


def test_idl_of_the_reference_program_is_readable_when_present() -> None:
    path = ROOT / "idls" / "paid_match.json"
    if path.exists():
        dec = EventDecoder(load_idl(path))
        assert dec.program_id == json.loads(path.read_text())["address"]


# --- nothing may raise ------------------------------------------------------------------------

_line = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            f"Program {PID} invoke [1]",
            f"Program {PID} success",
            f"Program {OTHER} invoke [2]",
            "Log truncated",
            f"Program {PID} consumed x of y",
            "Program ",
            f"Program {PID} invoke [",
            "Program data: ",
        ]
    ),
    st.binary(max_size=64).map(lambda b: "Program data: " + base64.b64encode(b).decode()),
    st.binary(max_size=64).map(lambda b: log_data_line(EV1[:8] + b)),
    st.binary(max_size=64).map(lambda b: log_data_line(EV2[:8] + b)),
)

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=20)
    | st.floats(allow_nan=True),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(_line, max_size=30))
def test_arbitrary_log_lines_never_raise(lines: list[str]) -> None:
    lines = [f"Program {PID} invoke [1]", *lines]
    # the inner method: the public one adds a catch-all that would hide a parser bug
    res = DEC._decode_transaction(transaction(logs=lines))
    assert isinstance(res, TxDecodeResult)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    for prefix in (b"", EV1[:8], EV2[:8], bytes([9] * 8), bytes([10] * 8), bytes([11] * 8)):
        data = prefix + raw
        res = DEC._decode_transaction(emit_log_tx(PID, [data]))
        assert len(res.events) + len(res.decode_errors) == 1
        res = DEC._decode_transaction(emit_cpi_tx(PID, [data]))
        assert len(res.events) + len(res.decode_errors) == 1
        try:
            DEC.decode_account(data)
        except Exception as e:  # only DecodeError, with a reason, may come out
            assert type(e).__name__ == "DecodeError" and e.reason  # type: ignore[attr-defined]


@FAST
@given(
    _json,
    st.sampled_from(
        [
            "meta",
            "transaction",
            "logMessages",
            "innerInstructions",
            "message",
            "loadedAddresses",
            "accountKeys",
            "instructions",
            "err",
        ]
    ),
)
def test_arbitrary_transaction_shapes_never_raise(junk: object, key: str) -> None:
    DEC._decode_transaction(junk)
    DEC.instruction_names(junk)
    tx = emit_cpi_tx(PID, [EV1])
    for container in (tx, tx["meta"], tx["transaction"], tx["transaction"]["message"]):
        if key in container:
            container[key] = junk
    res = DEC._decode_transaction(tx)
    assert isinstance(res, TxDecodeResult)
    assert isinstance(DEC.instruction_names(tx), list)


# --- the fast scanner reads logs exactly as the plain algorithm does --------------------------


def _reference_scan(logs: list[object], program_id: str) -> tuple[list[str], bool, list[int], str | None]:
    """The invoke-stack attribution written plainly (no memo, no shortcuts): what scan_logs did
    before it was made fast, kept here as the definition it must match."""
    payloads: list[str] = []
    units: list[int] = []
    truncated, failed_program = False, None
    stack: list[str] = []
    for line in logs:
        if not isinstance(line, str):
            continue
        if line.startswith("Program data: "):
            if stack and stack[-1] == program_id:
                payloads.append(line[len("Program data: ") :])
            continue
        if line.startswith("Log truncated"):
            truncated = True
            continue
        if not line.startswith("Program ") or line.startswith("Program log: "):
            continue
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        program, verb = parts[1], parts[2]
        if verb == "invoke":
            rest = parts[3] if len(parts) > 3 else ""
            inner = rest[1:-1]
            if rest.startswith("[") and rest.endswith("]") and inner.isdecimal() and int(inner) >= 1:
                del stack[int(inner) - 1 :]
            stack.append(program)
        elif verb in ("success", "failed:"):
            if verb == "failed:" and failed_program is None:
                failed_program = program
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] == program:
                    del stack[i:]
                    break
        elif verb == "consumed" and program == program_id and len(parts) > 3:
            if stack and stack[-1] == program_id and program_id not in stack[:-1]:
                n = parts[3].split(" ", 1)[0]
                if n.isdecimal():
                    units.append(int(n))
    return payloads, truncated, units, failed_program


_frame_line = st.sampled_from([PID, OTHER, OUTER]).flatmap(
    lambda p: st.sampled_from(
        [
            f"Program {p} invoke [1]",
            f"Program {p} invoke [2]",
            f"Program {p} invoke [3]",
            f"Program {p} invoke [0]",
            f"Program {p} invoke [x]",
            f"Program {p} invoke [1] extra",
            f"Program {p} success",
            f"Program {p} failed: custom program error: 0x1",
            f"Program {p} consumed 1200 of 200000 compute units",
            f"Program {p} consumed ² of 9 compute units",
            f"Program {p} consumed 77",
            f"Program {p} consumed",
            f"Program return: {p} AQID",
            "Program log: Instruction: Join",
            "Program data: AQID",
            "Program data: AQ ID",
            "Log truncated",
            "Program",
            "",
        ]
    )
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_frame_line | _line | st.integers(), max_size=25))
def test_scan_logs_matches_the_plain_algorithm(lines: list[object]) -> None:
    from exporter.anchor.logs import scan_logs

    expected = _reference_scan(lines, PID)
    assert tuple(scan_logs(lines, PID)) == expected
    assert tuple(scan_logs(lines, PID)) == expected  # again, with every frame line memoised


def test_frame_memo_stays_bounded() -> None:
    from exporter.anchor import logs

    lines = [f"Program {PID} invoke [{d}]" for d in range(1, logs._MAX_FRAMES + 500)]
    for line in lines:
        logs.scan_logs([line, f"Program {PID} success"], PID)
    assert len(logs._FRAMES) <= logs._MAX_FRAMES
