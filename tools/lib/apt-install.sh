# Sourced by the tools' ensure-*.sh scripts: installs Debian packages with apt-get, as root or
# through password-less sudo, showing apt-get's output only when it fails.
#
#   apt_install TOOL PACKAGE...   TOOL names the caller in messages; returns non-zero (after
#                                 saying why on stderr) when there is no root or apt-get fails.

apt_install() {
    local tool=$1
    shift
    local as_root
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "$tool: missing $* and no root to install them (apt-get install $*)" >&2
        return 1
    fi
    echo "$tool: installing $* with apt-get" >&2
    local log
    log=$(mktemp)
    if ! { DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get update -qq && \
           DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$@"; } \
           >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "$tool: apt-get failed" >&2
        return 1
    fi
    rm -f "$log"
}
