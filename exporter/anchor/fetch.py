"""Transactions for ``escrow-exporter decode`` that are not in the JSON shape it reads: fetched
from an RPC by signature, or encoded (``encoding: base64`` / ``base58``) by whoever fetched them.

Errors are ``ValueError`` with a one-line message. The RPC URL is never printed whole: providers
put API keys in it; messages name its host only.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from based58 import b58decode, b58encode
from solders.transaction import VersionedTransaction


def expand_encoded(result: dict[str, Any]) -> dict[str, Any]:
    """A getTransaction result whose ``transaction`` is ``[DATA, "base64" | "base58"]``, with the
    transaction decoded into the JSON shape (signatures, accountKeys, instructions)."""
    tx = result["transaction"]
    if len(tx) != 2 or tx[1] not in ("base64", "base58") or not isinstance(tx[0], str):
        raise ValueError('"transaction" is a list but not [DATA, "base64"] or [DATA, "base58"]')
    try:
        raw = base64.b64decode(tx[0], validate=True) if tx[1] == "base64" else b58decode(tx[0].encode())
        vt = VersionedTransaction.from_bytes(raw)
    except ValueError as e:  # binascii.Error is one; solders raises ValueError subclasses
        raise ValueError(f'"transaction" is not a {tx[1]}-encoded Solana transaction ({e})') from None
    message = vt.message
    expanded = {
        "signatures": [str(s) for s in vt.signatures],
        "message": {
            "accountKeys": [str(k) for k in message.account_keys],
            "instructions": [
                {
                    "programIdIndex": ix.program_id_index,
                    "accounts": list(ix.accounts),
                    "data": b58encode(bytes(ix.data)).decode(),
                }
                for ix in message.instructions
            ],
        },
    }
    return {**result, "transaction": expanded}


def fetch_transaction(url: str, signature: str, timeout: float = 30.0) -> dict[str, Any]:
    """getTransaction(signature) from ``url`` (confirmed, json, v0 allowed)."""
    host = urlparse(url).hostname
    if urlparse(url).scheme not in ("http", "https") or not host:
        raise ValueError("--url: must be an http:// or https:// URL (the URL is not shown)")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getTransaction",
        "params": [
            signature,
            {"encoding": "json", "maxSupportedTransactionVersion": 0, "commitment": "confirmed"},
        ],
    }
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            reply = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise ValueError(f"getTransaction {signature} from {host}: HTTP {e.code}") from None
    except urllib.error.URLError as e:
        reason = getattr(e.reason, "strerror", None) or str(e.reason)
        raise ValueError(f"getTransaction {signature} from {host}: cannot connect: {reason}") from None
    except (TimeoutError, OSError) as e:
        raise ValueError(f"getTransaction {signature} from {host}: {type(e).__name__}") from None
    except ValueError:
        raise ValueError(f"getTransaction {signature} from {host}: the answer is not JSON") from None
    if not isinstance(reply, dict):
        raise ValueError(f"getTransaction {signature} from {host}: the answer is not a JSON-RPC object")
    if isinstance(reply.get("error"), dict):
        message = str(reply["error"].get("message", ""))[:200]
        raise ValueError(f"getTransaction {signature} from {host}: JSON-RPC error: {message}")
    result = reply.get("result")
    if result is None:
        raise ValueError(
            f"getTransaction {signature} from {host}: no such transaction (at commitment confirmed)"
        )
    if not isinstance(result, dict) or not isinstance(result.get("transaction"), dict):
        raise ValueError(f"getTransaction {signature} from {host}: not a getTransaction result")
    return result
