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
    # Tests run in parallel and several may find something missing at once: apt-get refuses to
    # run while another holds its locks, so our installs take turns (a lock file of their own),
    # and wait for any other apt-get rather than fail.
    local wait=(-o DPkg::Lock::Timeout=900)
    if ! { exec 9>>"${TMPDIR:-/tmp}/shiren-apt-install.lock" && flock -w 900 9 && \
           DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get "${wait[@]}" update -qq && \
           DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@"; } \
           >"$log" 2>&1; then
        exec 9>&-
        cat "$log" >&2
        rm -f "$log"
        echo "$tool: apt-get failed" >&2
        return 1
    fi
    exec 9>&-
    rm -f "$log"
}
