#!/usr/bin/env bash
# Ensures the browser the browser tests drive, installing Debian's packages with apt-get when
# something is missing (needs root, or sudo without a password).
#
#   ensure-chromium.sh            prints the path of a Chromium binary (one line, nothing else
#                                 on stdout); installs `chromium` when none is on PATH.
#   ensure-chromium.sh --driver   prints the path of `chromedriver` (one line, nothing else on
#                                 stdout), ensuring Chromium too; installs `chromium-driver`
#                                 (Debian builds it from the same source as `chromium`, so the
#                                 two versions match) when either is missing.
#
# Fonts for Chinese text (fonts-noto-cjk) come with it: the API description and the capture page
# show Chinese text, which would otherwise render as empty boxes in the screenshots.
# Progress and errors go to stderr; the exit status is non-zero when nothing usable is found.
set -euo pipefail

# shellcheck source=../lib/apt-install.sh
source "$(dirname "$0")/../lib/apt-install.sh"

want_driver=false
case "${1:-}" in
    "") ;;
    --driver) want_driver=true ;;
    *) echo "usage: ensure-chromium.sh [--driver]" >&2; exit 2 ;;
esac

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

find_driver() {
    local path
    if command -v chromedriver >/dev/null 2>&1; then
        command -v chromedriver
        return 0
    fi
    # Debian installs it here as well as the /usr/bin link.
    for path in /usr/lib/chromium/chromedriver; do
        if [ -x "$path" ]; then
            echo "$path"
            return 0
        fi
    done
    return 1
}

found() {
    if $want_driver; then
        find_chromium >/dev/null && find_driver
    else
        find_chromium
    fi
}

if found; then
    exit 0
fi

packages=(chromium fonts-noto-cjk)
if $want_driver; then
    packages+=(chromium-driver)
fi
apt_install ensure-chromium "${packages[@]}" || exit 1

found || { echo "ensure-chromium: still missing after installing ${packages[*]}" >&2; exit 1; }
