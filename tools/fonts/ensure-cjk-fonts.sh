#!/usr/bin/env bash
# Ensures the fonts the synthetic card generator (crates/shiren-cardsynth) draws with, installing
# Debian's packages with apt-get when something is missing (needs root, or sudo without a
# password).
#
#   ensure-cjk-fonts.sh    prints one font file path a line, nothing else on stdout, in this
#                          order: Noto Sans CJK Regular (.ttc, always), Noto Sans CJK Bold (if
#                          present), Noto Serif CJK Regular (if present), DejaVu Sans Mono
#                          (always). Installs fonts-noto-cjk and fonts-dejavu-core when the
#                          required files are missing.
#
# The CJK fonts are collections: the caller picks the Simplified Chinese face ("… SC") by name.
# Progress and errors go to stderr; the exit status is non-zero when a required font is missing.
set -euo pipefail

# shellcheck source=../lib/apt-install.sh
source "$(dirname "$0")/../lib/apt-install.sh"

if [ "$#" -ne 0 ]; then
    echo "usage: ensure-cjk-fonts.sh" >&2
    exit 2
fi

# Debian's paths first; fc-match covers other layouts of the same fonts.
find_font() {
    local pattern=$1 path
    shift
    for path in "$@"; do
        if [ -f "$path" ]; then
            echo "$path"
            return 0
        fi
    done
    if command -v fc-match >/dev/null 2>&1; then
        path=$(fc-match -f '%{file}' "$pattern" 2>/dev/null || true)
        case "$path" in
            # fc-match always answers with something; accept only the family asked for.
            *NotoSansCJK-Regular*|*NotoSansCJK-Bold*|*NotoSerifCJK-Regular*|*DejaVuSansMono.ttf)
                if [ -f "$path" ]; then
                    echo "$path"
                    return 0
                fi
                ;;
        esac
    fi
    return 1
}

sans() {
    find_font "Noto Sans CJK SC:style=Regular" \
        /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
}
sans_bold() {
    find_font "Noto Sans CJK SC:style=Bold" \
        /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc
}
serif() {
    find_font "Noto Serif CJK SC:style=Regular" \
        /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc
}
mono() {
    find_font "DejaVu Sans Mono:style=Book" \
        /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
}

packages=()
sans >/dev/null || packages+=(fonts-noto-cjk)
mono >/dev/null || packages+=(fonts-dejavu-core)

if [ "${#packages[@]}" -gt 0 ]; then
    apt_install ensure-cjk-fonts "${packages[@]}" || exit 1
fi

sans || { echo "ensure-cjk-fonts: Noto Sans CJK still missing" >&2; exit 1; }
sans_bold || true
serif || true
mono || { echo "ensure-cjk-fonts: DejaVu Sans Mono still missing" >&2; exit 1; }
