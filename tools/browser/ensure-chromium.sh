#!/usr/bin/env bash
# Prints the path of a Chromium binary for the browser tests, installing Debian's `chromium`
# package with apt-get when none is on PATH (needs root, or sudo without a password).
# Fonts for Chinese text (fonts-noto-cjk) come with it: the API description shows masked Chinese
# names, which would otherwise render as empty boxes in the screenshots.
set -euo pipefail

find_chromium() {
    local name
    for name in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if find_chromium; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "ensure-chromium: no chromium on PATH and no root to install it (apt-get install chromium)" >&2
    exit 1
fi

echo "ensure-chromium: installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt-get's output is shown only when it fails.
if ! { "${as_root[@]}" apt-get update -qq && \
       "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-chromium: apt-get failed" >&2
    exit 1
fi

find_chromium || { echo "ensure-chromium: chromium still not on PATH after installing" >&2; exit 1; }
