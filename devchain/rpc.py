"""Solana JSON-RPC methods over a ``Chain``, with a real node's result and error shapes.

A ``NodeView`` is what one simulated RPC node sees: a stale node freezes its slot, hides newer
transactions and reports -32005 from getHealth; a node with ``truncate_logs`` cuts log messages
the way a validator does when a transaction logs too much. The hostile faults (``slot_offset``,
``duplicate_signatures``, ``null_transactions``, ``history_unavailable``, ``bad_listing``) make a
node lie in ways real providers have: every answer still has a real node's shape.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from devchain.accounts import Account
from devchain.b58 import b58decode, b58encode
from devchain.chain import GENESIS_SLOT, Chain

API_VERSION = "2.1.0"
FEATURE_SET = 3294202862
MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURES_LIMIT = 1000
MAX_FILTERS = 4
MAX_BASE58_BYTES = 128
U64_MAX = 2**64 - 1
TRUNCATED_LOG_LINES = 3


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid_params(message: str) -> RpcError:
    return RpcError(-32602, message)


@dataclass
class NodeView:
    chain: Chain
    stale_slot: int | None = None
    truncate_logs: bool = False
    #: getProgramAccounts returns account data that cannot be decoded (one of BAD_ACCOUNT_DATA).
    bad_account_data: str | None = None
    #: Added to every slot the node reports (a devnet endpoint configured by mistake, a liar).
    slot_offset: int = 0
    #: Listings repeat a signature within a page and the ``before`` signature across pages.
    duplicate_signatures: bool = False
    #: getTransaction answers ``null`` (a node that has not got the transaction).
    null_transactions: bool = False
    #: getTransaction answers -32011 (a node without transaction history).
    history_unavailable: bool = False
    #: getSignaturesForAddress answers an object instead of a list.
    bad_listing: bool = False

    @property
    def slot(self) -> int:
        return self.chain.slot if self.stale_slot is None else min(self.stale_slot, self.chain.slot)

    def slot_for(self, commitment: str) -> int:
        if commitment == "finalized":
            return max(GENESIS_SLOT, self.slot - 32)
        return self.slot


#: Faults of getProgramAccounts data: cut after the discriminator and one byte (an IDL longer
#: than the accounts), not base64, not a string.
BAD_ACCOUNT_DATA = ("short", "garbage", "not_string")


def _bad_account_data(how: str, data: Any) -> Any:
    if how == "short":
        if isinstance(data, list) and data[1:] == ["base64"]:
            return [base64.b64encode(base64.b64decode(data[0])[:9]).decode(), "base64"]
        return data
    if how == "garbage":
        return ["%%not*base64%%", "base64"]
    return [12345, "base64"]


def _params(params: Any, n_required: int, method: str) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid_params("Invalid params: invalid type: map, expected a sequence.")
    if len(params) < n_required:
        raise invalid_params(f"`params` should have at least {n_required} argument(s)")
    return params


def _config(params: list[Any], index: int) -> dict[str, Any]:
    if len(params) <= index or params[index] is None:
        return {}
    cfg = params[index]
    if not isinstance(cfg, dict):
        raise invalid_params("Invalid params: invalid type: expected struct config.")
    return cfg


def _decode_fixed(text: Any, size: int) -> bytes:
    if not isinstance(text, str):
        raise invalid_params("Invalid params: invalid type: expected a string.")
    try:
        raw = b58decode(text)
    except ValueError:
        raise invalid_params("Invalid param: Invalid") from None
    if len(raw) != size:
        raise invalid_params("Invalid param: WrongSize")
    return raw


def _pubkey(text: Any) -> Pubkey:
    return Pubkey.from_bytes(_decode_fixed(text, 32))


def _signature(text: Any) -> str:
    _decode_fixed(text, 64)
    return str(text)


class Rpc:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.methods = {
            "getHealth": self.get_health,
            "getSlot": self.get_slot,
            "getVersion": self.get_version,
            "getLatestBlockhash": self.get_latest_blockhash,
            "getBalance": self.get_balance,
            "getAccountInfo": self.get_account_info,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getProgramAccounts": self.get_program_accounts,
            "getSignaturesForAddress": self.get_signatures_for_address,
            "getTransaction": self.get_transaction,
            "getBlockTime": self.get_block_time,
        }

    # ---- envelope -------------------------------------------------------------------------
    def handle(self, req: Any, view: NodeView) -> dict[str, Any]:
        """One JSON-RPC request object to one response object."""
        if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
            return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": None}
        rid = req.get("id")
        fn = self.methods.get(req["method"])
        if fn is None:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": rid}
        try:
            result = fn(req.get("params"), view)
        except RpcError as e:
            return {"jsonrpc": "2.0", "error": e.to_json(), "id": rid}
        return {"jsonrpc": "2.0", "result": result, "id": rid}

    def _context(self, view: NodeView, cfg: dict[str, Any], value: Any) -> dict[str, Any]:
        slot = self._slot(view, cfg)
        if slot >= self.chain.slot:
            # The answer shows slot ``slot`` as complete, as a real node's confirmed view does:
            # later transactions go to the next slot (exact reconciliation at a slot relies on it).
            self.chain.seal_slot(slot)
        slot += view.slot_offset
        return {"context": {"apiVersion": API_VERSION, "slot": slot}, "value": value}

    def _slot(self, view: NodeView, cfg: dict[str, Any]) -> int:
        commitment = cfg.get("commitment", "finalized")
        if commitment not in ("processed", "confirmed", "finalized"):
            raise invalid_params(f"Invalid params: unknown variant `{commitment}`.")
        slot = view.slot_for(commitment)
        min_ctx = cfg.get("minContextSlot")
        if isinstance(min_ctx, int) and min_ctx > slot:
            raise RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": slot})
        return slot

    # ---- cluster --------------------------------------------------------------------------
    def get_health(self, params: Any, view: NodeView) -> str:
        if view.stale_slot is not None:
            behind = max(0, self.chain.slot - view.slot)
            raise RpcError(-32005, f"Node is behind by {behind} slots", {"numSlotsBehind": behind})
        return "ok"

    def get_slot(self, params: Any, view: NodeView) -> int:
        return self._slot(view, _config(_params(params, 0, "getSlot"), 0)) + view.slot_offset

    def get_version(self, params: Any, view: NodeView) -> dict[str, Any]:
        return {"feature-set": FEATURE_SET, "solana-core": API_VERSION}

    def get_latest_blockhash(self, params: Any, view: NodeView) -> dict[str, Any]:
        cfg = _config(_params(params, 0, "getLatestBlockhash"), 0)
        slot = self._slot(view, cfg)
        value = {
            "blockhash": str(self.chain.blockhash(slot)),
            "lastValidBlockHeight": slot - 20_000_000 + 150,
        }
        return self._context(view, cfg, value)

    def get_block_time(self, params: Any, view: NodeView) -> int:
        p = _params(params, 1, "getBlockTime")
        slot = p[0]
        if not isinstance(slot, int) or slot < 0:
            raise invalid_params("Invalid params: invalid type: expected u64.")
        if slot > view.slot:
            raise RpcError(-32004, f"Block not available for slot {slot}")
        if slot < GENESIS_SLOT:
            raise RpcError(-32009, f"Slot {slot} was skipped, or missing in long-term storage")
        return self.chain.block_time(slot)

    # ---- accounts -------------------------------------------------------------------------
    def _account_json(self, acc: Account, cfg: dict[str, Any]) -> dict[str, Any]:
        encoding = cfg.get("encoding", "binary")
        data = acc.data
        ds = cfg.get("dataSlice")
        if ds is not None:
            if (
                not isinstance(ds, dict)
                or not isinstance(ds.get("offset"), int)
                or not isinstance(ds.get("length"), int)
            ):
                raise invalid_params("Invalid params: dataSlice needs integer offset and length.")
            data = data[ds["offset"] : ds["offset"] + ds["length"]]
        if encoding in ("binary", "base58"):
            if len(data) > MAX_BASE58_BYTES:
                raise RpcError(
                    -32600,
                    "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
                )
            encoded: Any = b58encode(data) if encoding == "binary" else [b58encode(data), "base58"]
        elif encoding == "base64":
            encoded = [base64.b64encode(data).decode(), "base64"]
        elif encoding in ("jsonParsed", "base64+zstd"):
            raise invalid_params(
                f"Invalid params: encoding {encoding} is not supported by devchain; use base64."
            )
        else:
            raise invalid_params(f"Invalid params: unknown variant `{encoding}`.")
        return {
            "data": encoded,
            "executable": acc.executable,
            "lamports": acc.lamports,
            "owner": str(acc.owner),
            "rentEpoch": U64_MAX,
            "space": len(acc.data),
        }

    def get_balance(self, params: Any, view: NodeView) -> dict[str, Any]:
        p = _params(params, 1, "getBalance")
        key, cfg = _pubkey(p[0]), _config(p, 1)
        acc = self.chain.accounts.get(key)
        return self._context(view, cfg, acc.lamports if acc else 0)

    def get_account_info(self, params: Any, view: NodeView) -> dict[str, Any]:
        p = _params(params, 1, "getAccountInfo")
        key, cfg = _pubkey(p[0]), _config(p, 1)
        acc = self.chain.accounts.get(key)
        return self._context(view, cfg, self._account_json(acc, cfg) if acc else None)

    def get_multiple_accounts(self, params: Any, view: NodeView) -> dict[str, Any]:
        p = _params(params, 1, "getMultipleAccounts")
        if not isinstance(p[0], list):
            raise invalid_params("Invalid params: invalid type: expected a sequence of pubkeys.")
        if len(p[0]) > MAX_MULTIPLE_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        keys, cfg = [_pubkey(k) for k in p[0]], _config(p, 1)
        accs = [self.chain.accounts.get(k) for k in keys]
        return self._context(view, cfg, [self._account_json(a, cfg) if a else None for a in accs])

    def get_program_accounts(self, params: Any, view: NodeView) -> Any:
        p = _params(params, 1, "getProgramAccounts")
        program, cfg = _pubkey(p[0]), _config(p, 1)
        filters = cfg.get("filters") or []
        if not isinstance(filters, list):
            raise invalid_params("Invalid params: filters must be a list.")
        if len(filters) > MAX_FILTERS:
            raise invalid_params(f"Too many filters provided; max {MAX_FILTERS}")
        checks = [self._filter(f) for f in filters]
        rows = []
        for key in sorted(self.chain.accounts, key=str):
            acc = self.chain.accounts[key]
            if acc.owner != program or not all(c(acc.data) for c in checks):
                continue
            account = self._account_json(acc, cfg)
            if view.bad_account_data:
                account["data"] = _bad_account_data(view.bad_account_data, account["data"])
            rows.append({"account": account, "pubkey": str(key)})
        return self._context(view, cfg, rows) if cfg.get("withContext") else rows

    @staticmethod
    def _filter(f: Any) -> Any:
        if isinstance(f, dict) and isinstance(f.get("dataSize"), int):
            size = f["dataSize"]
            return lambda data: len(data) == size
        if isinstance(f, dict) and isinstance(f.get("memcmp"), dict):
            mc = f["memcmp"]
            offset, raw, enc = mc.get("offset"), mc.get("bytes"), mc.get("encoding", "base58")
            if not isinstance(offset, int) or not isinstance(raw, str):
                raise invalid_params("Invalid params: memcmp needs integer offset and string bytes.")
            try:
                want = b58decode(raw) if enc == "base58" else base64.b64decode(raw, validate=True)
            except ValueError:
                raise invalid_params(f"Invalid param: could not decode memcmp bytes as {enc}") from None
            if len(want) > MAX_BASE58_BYTES:
                raise invalid_params("Invalid param: filter data too large")
            return lambda data: data[offset : offset + len(want)] == want
        raise invalid_params(f"Invalid params: unknown filter {f!r}.")

    # ---- transactions ---------------------------------------------------------------------
    @staticmethod
    def _tx_commitment(cfg: dict[str, Any]) -> str:
        commitment = cfg.get("commitment", "finalized")
        if commitment == "processed":
            raise invalid_params("Method does not support commitment below `confirmed`")
        return str(commitment)

    def get_signatures_for_address(self, params: Any, view: NodeView) -> Any:
        p = _params(params, 1, "getSignaturesForAddress")
        address, cfg = str(_pubkey(p[0])), _config(p, 1)
        limit = cfg.get("limit", MAX_SIGNATURES_LIMIT)
        if not isinstance(limit, int) or limit < 1 or limit > MAX_SIGNATURES_LIMIT:
            raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES_LIMIT}")
        before = _signature(cfg["before"]) if cfg.get("before") is not None else None
        until = _signature(cfg["until"]) if cfg.get("until") is not None else None
        max_slot = self._slot(view, {**cfg, "commitment": self._tx_commitment(cfg)})
        recs = self.chain.signatures_for(address, before, until, limit, max_slot) or []
        if view.duplicate_signatures and recs:
            recs = self._with_duplicates(recs, before, limit)
        finalized = view.slot_for("finalized")
        page = [
            {
                "blockTime": r.block_time,
                "confirmationStatus": "finalized" if r.slot <= finalized else "confirmed",
                "err": r.err,
                "memo": None,
                "signature": r.signature,
                "slot": r.slot + view.slot_offset,
            }
            for r in recs
        ]
        return {"signatures": page} if view.bad_listing else page

    def _with_duplicates(self, recs: list[Any], before: str | None, limit: int) -> list[Any]:
        """The page with its newest entry listed twice and, when paging, the ``before`` entry
        first (an inclusive ``before``): a repeat within the page and one across pages."""
        out = [recs[0], *recs]
        prev = self.chain.get_record(before) if before is not None else None
        if prev is not None:
            out.insert(0, prev)
        return out[:limit]

    def get_transaction(self, params: Any, view: NodeView) -> dict[str, Any] | None:
        p = _params(params, 1, "getTransaction")
        sig = _signature(p[0])
        cfg = p[1] if len(p) > 1 and isinstance(p[1], dict) else {"encoding": p[1]} if len(p) > 1 else {}
        max_slot = view.slot_for(self._tx_commitment(cfg))
        encoding = cfg.get("encoding") or "json"
        if encoding not in ("json", "base64", "base58"):
            raise invalid_params(
                f"Invalid params: encoding {encoding} is not supported by devchain; use json."
            )
        if view.history_unavailable:
            raise RpcError(-32011, "Transaction history is not available from this node")
        rec = self.chain.get_record(sig)
        if rec is None or rec.slot > max_slot or view.null_transactions:
            return None
        doc = Chain.load(rec)
        max_version = cfg.get("maxSupportedTransactionVersion")
        if doc["version"] != "legacy" and (max_version is None or max_version < doc["version"]):
            raise RpcError(
                -32015,
                f"Transaction version ({doc['version']}) is not supported by the requesting client. "
                "Please try the request again with the following configuration parameter: "
                '"maxSupportedTransactionVersion": 0',
            )
        meta = doc["meta"]
        if view.truncate_logs and len(meta["logMessages"]) > TRUNCATED_LOG_LINES:
            meta["logMessages"] = [*meta["logMessages"][:TRUNCATED_LOG_LINES], "Log truncated"]
        raw = base64.b64decode(doc["raw"])
        if encoding == "json":
            tx: Any = doc["transaction"]
        elif encoding == "base64":
            tx = [doc["raw"], "base64"]
        else:
            tx = [b58encode(raw), "base58"]
        out = {
            "blockTime": rec.block_time,
            "meta": meta,
            "slot": rec.slot + view.slot_offset,
            "transaction": tx,
        }
        if max_version is not None:
            out["version"] = doc["version"]
        return out
