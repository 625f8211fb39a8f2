#!/usr/bin/env bash
# Idempotent set-up: Debian packages (as root), then the project's virtualenv.
# Quick when everything is already there: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter
  prometheus-postgres-exporter postgresql docker-compose victoria-metrics)
need_cmds=(promtool amtool prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter
  prometheus-postgres-exporter docker-compose)
missing=0
for c in "${need_cmds[@]}"; do command -v "$c" >/dev/null 2>&1 || missing=1; done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1
command -v victoria-metrics >/dev/null 2>&1 || missing=1
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${DEB_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${DEB_PACKAGES[@]}" >/dev/null
    # The Debian packages start daemons under systemd where it exists; this project starts its own.
  else
    echo "setup: missing Debian packages; as root run: apt-get install ${DEB_PACKAGES[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing the project into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
