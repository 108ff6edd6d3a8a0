#!/usr/bin/env sh
# Debian's Chromium for the browser test (tests/functional/test_browser_e2e.py); Playwright drives
# this binary, so no browser is ever downloaded. Idempotent: does nothing when it is installed.
set -eu
if [ -x /usr/bin/chromium ]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "chromium: /usr/bin/chromium is missing and this user cannot install it (not root, no sudo)" >&2
    echo "chromium: run as root: apt-get install -y chromium" >&2
    exit 1
fi
echo "chromium: installing Debian's chromium package with apt-get"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
