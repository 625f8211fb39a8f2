"""Overlap check between shard configs: each program, account and query in exactly one shard.

Several exporter instances may split the work by config (docs/scaling.md). Two shards that both
ingest one program would each count every event; two that both read one account would make
``sum()`` double the balance. This compares what the configs *resolve to* (program ids, account
addresses, state files), so a renamed duplicate is caught too.
"""

from __future__ import annotations

from collections import defaultdict

from exporter.config.model import Config
from exporter.solana import find_pda


def _program_id(config_program: object) -> str | None:
    from exporter.anchor import load_idl  # the IDL gives the id when the config does not

    pid = getattr(config_program, "program_id", None)
    if pid:
        return str(pid)
    built = getattr(config_program, "built_program", lambda: None)()
    if built is not None:  # the config check read the IDL already: not again
        return str(built.program_id)
    try:
        return str(load_idl(str(getattr(config_program, "idl"))).program_id)  # noqa: B009
    except Exception:  # an unreadable IDL is check-config's business, reported per file
        return None


def overlaps(configs: dict[str, Config]) -> list[str]:
    """One line per thing that more than one shard claims; empty when the split is clean."""
    claims: dict[str, list[str]] = defaultdict(list)
    for path, cfg in configs.items():
        for prog in cfg.programs:
            claims[f"program {prog.name}"].append(path)
            pid = _program_id(prog)
            if pid:
                claims[f"program id {pid}"].append(path)
        for acct in cfg.balances.accounts:
            address = acct.address or (find_pda(acct.pda.program_id, acct.pda.seeds) if acct.pda else None)
            claims[f"account address {address}"].append(path)
        for q in cfg.sql.queries if cfg.sql else []:
            claims[f"sql query {q.name}"].append(path)
        if cfg.programs:
            claims[f"state file {cfg.state.path}"].append(path)
    return [
        f"{what} is in {len(paths)} shards: {', '.join(paths)}"
        for what, paths in claims.items()
        if len(paths) > 1
    ]
