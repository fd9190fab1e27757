#!/bin/sh
# nneval and nnpredict on this machine: one process on one and on two threads,
# and two processes of one thread each over one shared file (Gloo over
# loopback; rank 0 reports), the tuned Fashion-MNIST CNN on the 10,000 test
# images in frames of 256. nneval runs one forward pass per batch, as
# nnpredict does, so the two should take about the same time. Runs alternate
# (the machine is noisy); medians of wall seconds. Writes bench/results/eval.md.
#
# Environment: BENCH_ROUNDS (default 5).
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
W=bench/out/eval
RESULT=bench/results/eval.md
ROUNDS=${BENCH_ROUNDS:-5}
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
mkdir -p "$W" bench/results
die() { echo "eval.sh: $*" >&2; exit 1; }
[ -x bin/nneval ] || die "bin/nneval is missing (make all)"
port() { $PY -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
now() { date +%s.%N; }

$PY tests/nn/fmnist_stream.py --count 4096 --batch 128 > "$W/train.bs" || die "fmnist_stream.py failed"
$PY tests/nn/fmnist_stream.py --test --count 10000 --batch 256 > "$W/test.bs"
nntrain -q -j 2 --seed 1 -m examples/models/fashion-mnist-tuned.json -o "$W/fm.model" "$W/train.bs" || die "nntrain failed"
nneval -q -m "$W/fm.model" -o "$W/one.txt" "$W/test.bs" || die "nneval failed"

# time NAME COMMAND...: appends the command's wall seconds to $W/NAME
time_of() {
    name=$1; shift
    t0=$(now); "$@" || die "$name failed"; t1=$(now)
    echo "$t1 - $t0" | bc >> "$W/$name"
}
two_ranks() {
    p=$(port)
    $1 -q -j 1 -m "$W/fm.model" --rank 1 --world-size 2 --master 127.0.0.1:$p "$W/test.bs" > /dev/null &
    pid=$!
    $1 -q -j 1 -m "$W/fm.model" --rank 0 --world-size 2 --master 127.0.0.1:$p "$W/test.bs" > "$W/two.out" || return 1
    wait $pid
}
. bench/common.sh

load=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$W"/nneval.* "$W"/nnpredict.*
for r in $(seq "$ROUNDS"); do
    for tool in nneval nnpredict; do
        time_of $tool.1 $tool -q -j 1 -m "$W/fm.model" "$W/test.bs" -o /dev/null
        time_of $tool.2t $tool -q -j 2 -m "$W/fm.model" "$W/test.bs" -o /dev/null
        time_of $tool.2p two_ranks $tool
    done
done
nneval -q -m "$W/fm.model" "$W/test.bs" > "$W/one.txt"
two_ranks nneval && cmp -s "$W/one.txt" "$W/two.out" || die "2 ranks' report differs from 1 process's"
nnpredict -q -m "$W/fm.model" "$W/test.bs" > "$W/one.tsv"
two_ranks nnpredict && cmp -s "$W/one.tsv" "$W/two.out" || die "2 ranks' predictions differ from 1 process's"

{
    echo "## Evaluation and prediction: threads and ranks"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, load average at the start $load; $ROUNDS rounds of alternating runs;"
    echo "median wall seconds (model loading included) for the tuned Fashion-MNIST CNN"
    echo "(examples/models/fashion-mnist-tuned.json) on the 10,000 test images in frames of 256."
    echo "Two ranks share the file (rank r takes batches r+1, r+3, ...); their report and predictions"
    echo "were checked byte-equal to one process's."
    echo
    echo "| tool | 1 process, -j 1 | 1 process, -j 2 | 2 processes, -j 1 each | 2 processes / -j 1 | 2 processes / -j 2 |"
    echo "|---|---:|---:|---:|---:|---:|"
    for tool in nneval nnpredict; do
        a=$(median < "$W/$tool.1"); t=$(median < "$W/$tool.2t"); p=$(median < "$W/$tool.2p")
        echo "| $tool | $a s | $t s | $p s | $(awk "BEGIN {printf \"%.2f\", $a / $p}")x | $(awk "BEGIN {printf \"%.2f\", $t / $p}")x |"
    done
    echo
    echo "Commands: \`sh bench/eval.sh\`; two ranks by hand:"
    echo
    echo '```'
    echo "nneval -j 1 -m fm.model --rank 1 --world-size 2 --master 127.0.0.1:PORT test.bs &"
    echo "nneval -j 1 -m fm.model --rank 0 --world-size 2 --master 127.0.0.1:PORT test.bs"
    echo '```'
} > "$RESULT"
cat "$RESULT"
