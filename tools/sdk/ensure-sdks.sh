#!/usr/bin/env bash
# Installs the cloud vendors' official SDKs that the drop-in tests drive, pinned
# (requirements.txt, package.json), into DIR (default: target/vendor-sdks under the workspace):
#   DIR/python  a virtual environment with the Python SDKs
#   DIR/node    an npm folder with the Node.js SDK
# Runs once per DIR: a stamp of the pins skips the work when nothing changed. Prints DIR on
# stdout (one line); progress and errors go to stderr.
#
# The installs use the environment as it is (a registry may need its proxy); the tests clear
# HTTP(S)_PROXY when they run the SDKs, which would otherwise send loopback traffic there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/../../target/vendor-sdks}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
stamp="$dir/.stamp"
want="$(cat "$here/requirements.txt" "$here/package.json" "$here/package-lock.json" "$here/drive.py" "$here/drive.cjs" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir"
    exit 0
fi
exec 9>"$dir/.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir"
    exit 0
fi
python="$(command -v python3)"
echo "installing the vendor SDKs into $dir" >&2
rm -rf "$dir/python" "$dir/node"
"$python" -m venv "$dir/python" >&2
"$dir/python/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
mkdir -p "$dir/node"
cp "$here/package.json" "$dir/node/package.json"
cp "$here/package-lock.json" "$dir/node/package-lock.json"
(cd "$dir/node" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
cp "$here/drive.py" "$dir/"
cp "$here/drive.cjs" "$dir/node/"
echo "$want" > "$stamp"
echo "$dir"
