#!/usr/bin/env bash
# Installs what the server tests need: Debian's chromium and a CJK font for
# the browser test, a Python venv with the official `openai` client, and
# `playwright-core` from npm. Every step is skipped when its result is
# already there, so the script can run before each CI job. The tests
# themselves never use the network.
#
# Locations (the tests read the same variables):
#   AIGC_SERVE_VENV        Python venv with openai    (default /tmp/aigc-ci-venv)
#   AIGC_SERVE_NODE_DIR    npm prefix with playwright  (default /tmp/aigc-ci-node)
set -euo pipefail

venv="${AIGC_SERVE_VENV:-/tmp/aigc-ci-venv}"
node_dir="${AIGC_SERVE_NODE_DIR:-/tmp/aigc-ci-node}"

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
    echo "serve-deps: installing chromium"
    apt_install chromium
fi
# A CJK font, so that Chinese in the browser test's screenshot renders as text, not boxes.
fonts="$(fc-list 2>/dev/null || true)"
if [[ "$fonts" != *CJK* ]]; then
    echo "serve-deps: installing fonts-noto-cjk"
    apt_install fonts-noto-cjk
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "serve-deps: installing nodejs and npm"
    apt_install nodejs npm
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "serve-deps: installing python3-venv"
    apt_install python3-venv
fi

if ! "$venv/bin/python" -c 'import openai' >/dev/null 2>&1; then
    echo "serve-deps: installing the openai client into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check openai
fi

if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ]; then
    echo "serve-deps: installing playwright-core into $node_dir"
    mkdir -p "$node_dir"
    npm install --silent --no-audit --no-fund --prefix "$node_dir" playwright-core
fi

echo "serve-deps: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), \
openai $("$venv/bin/python" -c 'import openai; print(openai.__version__)'), \
playwright-core $(node -p "require('$node_dir/node_modules/playwright-core/package.json').version")"
