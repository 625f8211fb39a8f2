"""``escrow-exporter decode``: decode a program's events or an account with its IDL.

    escrow-exporter decode --idl IDL [--program-id ID] FILE...
        FILE: a getTransaction ``result`` object (encoding json or base64,
        maxSupportedTransactionVersion 0), or ``-`` for stdin.  Prints one line per decoded event
        of the program, in order, naming where it came from:
        {"event": NAME, "source": "log" | "cpi", "data": {...}, "file": FILE, "signature": SIG}
    escrow-exporter decode --idl IDL [--program-id ID] --url RPC_URL --signature SIG...
        Fetches each transaction with getTransaction and decodes it ("file" is null).
    escrow-exporter decode --idl IDL --account BASE64
        Prints {"account": NAME, "data": {...}}

Exit status: 0 on success (payloads that do not decode are skipped and summarised on
stderr), 2 with a one-line message for bad usage or an unreadable IDL or input.  Every input
file is read before anything is printed, so a bad file yields no partial output.
"""

from __future__ import annotations

import argparse
import binascii
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from exporter.anchor.borsh import DecodeError
from exporter.anchor.decoder import EventDecoder
from exporter.anchor.idl import IdlError, load_idl


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # no usage dump + SystemExit: main() returns 2
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="escrow-exporter decode", description="Decode Anchor events or an account with an IDL.")
    p.add_argument("--idl", required=True, help="Anchor IDL JSON file (0.30+ or legacy)")
    p.add_argument("--program-id", help="program id, if the IDL has no address (or to override it)")
    p.add_argument("--account", metavar="BASE64", help="decode this account data instead of transactions")
    p.add_argument("--url", help="a Solana JSON-RPC URL to fetch --signature transactions from")
    p.add_argument("--signature", action="append", default=[], help="transaction signature (repeatable)")
    p.add_argument("files", nargs="*", metavar="FILE", help="getTransaction result JSON files ('-' = stdin)")
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        sources = [bool(args.files), args.account is not None, bool(args.url or args.signature)]
        if sum(sources) > 1:
            raise _UsageError(
                "give either --account or transaction FILEs or --url with --signature, not several"
            )
        if not any(sources):
            raise _UsageError(
                "nothing to decode: give transaction FILEs, --account BASE64 or --url and --signature"
            )
        if bool(args.url) != bool(args.signature):
            raise _UsageError("--url and --signature go together: the transactions to fetch, and from where")
        if args.program_id is not None:
            _check_program_id(args.program_id)
        decoder = EventDecoder(load_idl(args.idl), args.program_id)
        if args.account is not None:
            return _decode_account(decoder, args.account)
        decoder.require_program_id()
        if args.url:
            from exporter.anchor.fetch import fetch_transaction

            try:
                fetched = [(None, fetch_transaction(args.url, sig)) for sig in args.signature]
            except ValueError as e:
                raise _UsageError(str(e)) from None
            return _decode_transactions(decoder, fetched)
        return _decode_transactions(decoder, [(path, _read_transaction(path)) for path in args.files])
    except _UsageError as e:
        print(f"escrow-exporter decode: {e}", file=sys.stderr)
        return 2
    except IdlError as e:
        print(f"escrow-exporter decode: invalid IDL {e}", file=sys.stderr)
        return 2


def _check_program_id(text: str) -> None:
    """A mistyped id would match no instruction or log line: empty output that looks like success."""
    from solders.pubkey import Pubkey  # what the decoder compares program ids with

    try:
        Pubkey.from_string(text)
    except ValueError:  # solders' parse errors are ValueErrors
        raise _UsageError(f"--program-id {text[:64]!r}: not a valid base58 public key (32 bytes)") from None


def _decode_account(decoder: EventDecoder, text: str) -> int:
    try:
        raw = binascii.a2b_base64(text.strip(), strict_mode=True)
    except (binascii.Error, ValueError):
        raise _UsageError("--account: not valid base64") from None
    try:
        name, data = decoder.decode_account(raw)
    except DecodeError as e:
        raise _UsageError(f"--account: the data is not an account of this IDL ({e.reason})") from None
    _print({"account": name, "data": data})
    return 0


def _decode_transactions(
    decoder: EventDecoder, transactions: Sequence[tuple[str | None, dict[str, Any]]]
) -> int:
    """Every input was read (or fetched) before this: a bad one yields no partial output."""
    for file, tx in transactions:
        signature = _signature(tx)
        path = file if file is not None else signature
        res = decoder.decode_transaction(tx)
        for ev in res.events:
            _print(
                {"event": ev.name, "source": ev.source, "data": ev.data, "file": file, "signature": signature}
            )
        if res.decode_errors:
            counts = ", ".join(f"{reason} x{n}" for reason, n in Counter(res.decode_errors).items())
            print(
                f"escrow-exporter decode: {path}: skipped payloads that do not decode: {counts}",
                file=sys.stderr,
            )
        if res.logs_truncated:
            print(
                f"escrow-exporter decode: {path}: logs truncated, 'log' events may be missing",
                file=sys.stderr,
            )
    return 0


def _read_transaction(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except (OSError, UnicodeDecodeError) as e:
        raise _UsageError(
            f"{path}: cannot read: {e.__class__.__name__}: {getattr(e, 'strerror', None) or e}"
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise _UsageError(f"{path}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if isinstance(obj, dict) and "jsonrpc" in obj and "result" in obj:  # a whole RPC response
        obj = obj["result"]
    if isinstance(obj, dict) and isinstance(obj.get("transaction"), list):
        from exporter.anchor.fetch import expand_encoded

        try:
            obj = expand_encoded(obj)
        except ValueError as e:
            raise _UsageError(f"{path}: {e}") from None
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("meta"), dict)
        or not isinstance(obj.get("transaction"), dict)
    ):
        raise _UsageError(f"{path}: not a getTransaction result (an object with 'transaction' and 'meta')")
    return obj


def _signature(tx: dict[str, Any]) -> str | None:
    signatures = tx.get("transaction", {}).get("signatures")
    return (
        signatures[0]
        if isinstance(signatures, list) and signatures and isinstance(signatures[0], str)
        else None
    )


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_finite(obj), allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON numbers: render them as null (as serde_json does)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
