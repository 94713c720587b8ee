#!/usr/bin/env bash
# Installs Debian's nats-server (2.9.x on Debian 12) when it is missing. The package starts no
# server the project uses: the project's tools, tests and `npm run cluster` start their own
# `nats-server -c <conf>` on 127.0.0.1 and stop only the processes they started.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "nats-server is not installed: run 'apt-get install -y nats-server' as root" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
command -v nats-server >/dev/null
