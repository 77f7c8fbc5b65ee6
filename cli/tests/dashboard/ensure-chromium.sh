#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard test if it is missing (idempotent; needs root
# and Debian's package mirror, as CI has).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "installing chromium (Debian package) for the dashboard test" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
