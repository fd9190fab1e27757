# Sourced by every shell suite. Each check runs a real command and asserts on
# its exit status, output bytes or messages. Results go to $COUNTS.
# Usage:
#   run CMD...                 runs CMD, keeping status in $status, stdout in $T/out, stderr in $T/err
#   check NAME CONDITION...    passes if the shell CONDITION succeeds
#   check_status NAME N        passes if the last run exited N
#   check_err NAME TEXT        passes if the last run's stderr contains TEXT
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
export LC_ALL=C

_result() {  # _result pass|fail NAME [DETAIL]
    echo "$1 $2" >> "$COUNTS"
    if [ "$1" = fail ]; then
        echo "FAIL: $SUITE: $2${3:+ ($3)}"
        [ -s "$T/err" ] && sed 's/^/    stderr: /' "$T/err" | head -n 5
    fi
    return 0
}
SUITE=$(basename "$0" .sh)

# run's status also goes to a file, which the next check takes: `producer | run CMD`
# runs CMD in a subshell, whose variables are lost, and a check must not read the
# status of the run before.
run() {
    "$@" > "$T/out" 2> "$T/err"
    status=$?
    echo "$status" > "$T/status"
}
_status() { if [ -s "$T/status" ]; then status=$(cat "$T/status"); rm -f "$T/status"; fi; }
check() {
    _status
    name=$1; shift
    if eval "$@"; then _result pass "$name"; else _result fail "$name" "$*"; fi
}
check_status() {
    _status
    if [ "$status" -eq "$2" ]; then _result pass "$1"; else _result fail "$1" "exit $status, expected $2"; fi
}
check_err() {
    if grep -qF -- "$2" "$T/err"; then _result pass "$1"; else _result fail "$1" "stderr lacks: $2"; fi
}
check_out() {
    if grep -qF -- "$2" "$T/out"; then _result pass "$1"; else _result fail "$1" "stdout lacks: $2"; fi
}
# unprivileged CMD...: runs CMD without root's power to read any file (CAP_DAC_OVERRIDE,
# CAP_DAC_READ_SEARCH; util-linux's setpriv), so that CI, which runs as root, sees what a
# user sees of a chmod 000 file.
unprivileged() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search "$@"
    else
        "$@"
    fi
}
# Reads a batch stream with Python's json + numpy (an independent reader).
py() { /usr/bin/python3 "$@"; }
# prints max |a - b| over the weights two model files share (json + numpy)
weight_diff() { py -c "
import json, struct, numpy as np
def read(p):
    d = open(p, 'rb').read(); n, = struct.unpack('<Q', d[:8]); h = json.loads(d[8:8 + n]); h.pop('__metadata__')
    return {k: np.frombuffer(d[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], np.float32) for k, v in h.items()}
a, b = read('$1'), read('$2')
print(max(float(np.max(np.abs(a[k] - b[k]))) for k in a if not k.startswith('optimizer')))"; }
