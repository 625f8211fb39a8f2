#!/usr/bin/env bash
# `make run`: the simulator and the exporter on the embedded default (SQLite + simulator RPC).
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# examples/config.yml reads DEVCHAIN_LISTEN too (${DEVCHAIN_LISTEN:-...}): export it.
export DEVCHAIN_LISTEN=${DEVCHAIN_LISTEN:-127.0.0.1:8899}
LISTEN=${LISTEN:-127.0.0.1:10190}
mkdir -p var

"$BIN/escrow-exporter" devchain --listen "$DEVCHAIN_LISTEN" --seed "${SEED:-1}" --tps "${TPS:-5}" \
  --ledger-db var/ledger.sqlite >var/devchain.log 2>&1 &
devchain_pid=$!
trap 'kill $devchain_pid 2>/dev/null; wait $devchain_pid 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 100); do
  "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "http://$DEVCHAIN_LISTEN/-/healthy" >/dev/null 2>&1 && break
  kill -0 $devchain_pid 2>/dev/null || { echo "devchain failed to start, see var/devchain.log" >&2; tail -20 var/devchain.log >&2; exit 1; }
  sleep 0.1
done

echo "simulator: http://$DEVCHAIN_LISTEN (log: var/devchain.log)"
echo "exporter:  http://$LISTEN/metrics   (Ctrl-C to stop)"
"$BIN/escrow-exporter" run --config examples/config.yml --web.listen-address "$LISTEN"
