#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the report screenshot test
# (tests/operator/test_report_browser.py). Idempotent: does nothing when a
# chromium binary is already on PATH. Needs root (or sudo) and apt-get.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium || command -v chromium-browser)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "install_chromium.sh: need root or sudo to run apt-get" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# fonts-dejavu-core: the page's text renders with a real font in the screenshot.
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
command -v chromium
