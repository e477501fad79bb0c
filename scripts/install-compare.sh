#!/bin/sh
# Installs the optional comparison systems for `npm run bench -- --compare` (Debian/Ubuntu):
# redis-server and the etcd server binary. Never needed by the tests or CI.
# The packages' own services are stopped and disabled: the bench starts its own instances on
# 127.0.0.1 with temporary data directories.
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends redis-server etcd-server
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now redis-server etcd 2>/dev/null || true
fi
redis-server --version
etcd --version
