#!/bin/sh
# nntrain data-parallel on this machine (Gloo over loopback): one process on
# one thread, one process on two threads, and two processes on one thread
# each, on the same samples (frames of 128 for one process, of 64 for two, so
# that the global batch is the same); samples/s from the epochs' seconds (the
# first epoch, warm-up, left out), and the time rank 0 spent averaging
# gradients against its training time. Then 4 and 8 processes on loopback for
# correctness: their weights against one process's. Runs alternate, as the
# machine is noisy. Writes bench/results/distributed.md.
#
# Environment: BENCH_ROUNDS (rounds of the three runs, default 3),
# BENCH_EPOCHS (default 4).
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
W=bench/out/distributed
RESULT=bench/results/distributed.md
ROUNDS=${BENCH_ROUNDS:-3}
EPOCHS=${BENCH_EPOCHS:-4}
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
mkdir -p "$W" bench/results
die() { echo "distributed.sh: $*" >&2; exit 1; }
[ -x bin/nntrain ] || die "bin/nntrain is missing (make all)"
port() { $PY -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

# Fashion-MNIST (the lecture CNN on it, and the tuned demo CNN) and the
# lecture's own 64x64x3 CNN on synthetic images (3.2 M parameters, 12.9 MB of gradients).
$PY tests/nn/fmnist_stream.py --count 8192 --batch 128 > "$W/fm128.bs" || die "fmnist_stream.py failed"
$PY tests/nn/fmnist_stream.py --count 8192 --batch 64 > "$W/fm64.bs"
$PY bench/nn_synth.py 1024 128 > "$W/lec128.bs" || die "nn_synth.py failed"
$PY bench/nn_synth.py 1024 64 > "$W/lec64.bs"

# rate HISTORY: samples/s over the epochs after the first
rate() { $PY -c "
import json, sys
rows = [json.loads(l) for l in open('$1')][1:]
print(round(sum(float(sys.argv[1]) for r in rows) / sum(r['seconds'] for r in rows)))" "$2"; }

# one NAME SPEC DATA SAMPLES: the three runs, once each; appends rates to $W/NAME.{1,2t,2p}, overhead to $W/NAME.ar
one() {
    name=$1 spec=$2 data=$3 samples=$4
    nntrain -q -j 1 --seed 1 -m "$spec" --epochs "$EPOCHS" --history "$W/h1" -o "$W/one.model" "$W/${data}128.bs" ||
        die "1 process failed"
    rate "$W/h1" "$samples" >> "$W/$name.1"
    nntrain -q -j 2 --seed 1 -m "$spec" --epochs "$EPOCHS" --history "$W/h2" -o "$W/two-threads.model" "$W/${data}128.bs" ||
        die "1 process, 2 threads failed"
    rate "$W/h2" "$samples" >> "$W/$name.2t"
    p=$(port)
    nntrain -q -j 1 --seed 1 -m "$spec" --epochs "$EPOCHS" --rank 1 --world-size 2 --master 127.0.0.1:$p "$W/${data}64.bs" &
    pid=$!
    nntrain -j 1 --seed 1 -m "$spec" --epochs "$EPOCHS" --history "$W/hp" -o "$W/two.model" --rank 0 --world-size 2 \
        --master 127.0.0.1:$p "$W/${data}64.bs" 2> "$W/rank0.err" || die "2 processes failed: $(tail -n 2 "$W/rank0.err")"
    wait $pid || die "rank 1 failed"
    rate "$W/hp" "$samples" >> "$W/$name.2p"
    sed -n 's/.*took \([0-9.]*\) ms a step, \([0-9.]*\)%.*/\1 \2/p' "$W/rank0.err" >> "$W/$name.ar"
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

load=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$W"/*.1 "$W"/*.2t "$W"/*.2p "$W"/*.ar
for r in $(seq "$ROUNDS"); do
    one lecture_fm bench/nn_lecture_fm.json fm 8192
    one demo_fm examples/models/fashion-mnist-tuned.json fm 8192
    one lecture_64 bench/nn_lecture.json lec 1024
done

# 4 and 8 processes: frames of 32 and 16 against one process on frames of 128.
$PY tests/nn/fmnist_stream.py --count 2048 --batch 128 > "$W/c128.bs"
nntrain -q -j 1 --seed 1 -m bench/nn_lecture_fm.json --epochs 2 -o "$W/c1.model" "$W/c128.bs" || die "1 process failed"
diff_of() { $PY -c "
import json, struct, numpy as np
def read(p):
    d = open(p, 'rb').read(); n, = struct.unpack('<Q', d[:8]); h = json.loads(d[8:8 + n]); h.pop('__metadata__')
    return {k: np.frombuffer(d[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], np.float32) for k, v in h.items()}
a, b = read('$1'), read('$2')
print('%.1e' % max(float(np.max(np.abs(a[k] - b[k]))) for k in a if not k.startswith('optimizer')))"; }
for n in 4 8; do
    b=$((128 / n))
    $PY tests/nn/fmnist_stream.py --count 2048 --batch $b > "$W/c$b.bs"
    p=$(port)
    t0=$(date +%s.%N)
    for r in $(seq $((n - 1))); do
        nntrain -q -j 1 --seed 1 -m bench/nn_lecture_fm.json --epochs 2 --rank $r --world-size $n --master 127.0.0.1:$p "$W/c$b.bs" &
    done
    nntrain -q -j 1 --seed 1 -m bench/nn_lecture_fm.json --epochs 2 --rank 0 --world-size $n --master 127.0.0.1:$p \
        -o "$W/c$n.model" "$W/c$b.bs" || die "$n processes failed"
    wait
    t1=$(date +%s.%N)
    echo "$n $b $(diff_of "$W/c1.model" "$W/c$n.model") $(echo "$t1 - $t0" | bc)" >> "$W/many"
done

{
    echo "## Data-parallel training on one machine (Gloo over loopback)"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, load average at the start $load; $ROUNDS rounds of alternating runs, $EPOCHS epochs each,"
    echo "samples/s over the epochs after the first (medians). One process reads frames of 128 samples; two"
    echo "processes read every other frame of a file of 64-sample frames (the same global batch of 128)."
    echo
    echo "| model | 1 process, -j 1 | 1 process, -j 2 | 2 processes, -j 1 each | 2 processes / -j 1 | 2 processes / -j 2 | averaging gradients, per step | share of rank 0's training time |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for m in lecture_fm demo_fm lecture_64; do
        a=$(median < "$W/$m.1"); t=$(median < "$W/$m.2t"); p=$(median < "$W/$m.2p")
        ms=$(cut -d' ' -f1 "$W/$m.ar" | median); pc=$(cut -d' ' -f2 "$W/$m.ar" | median)
        case $m in
            lecture_fm) label="lecture CNN on Fashion-MNIST (bench/nn_lecture_fm.json, 0.43 M parameters)" ;;
            demo_fm) label="tuned Fashion-MNIST CNN (examples/models/fashion-mnist-tuned.json)" ;;
            lecture_64) label="lecture CNN, 64x64x3 (bench/nn_lecture.json, 3.2 M parameters)" ;;
        esac
        echo "| $label | $a | $t | $p | $(awk "BEGIN {printf \"%.2f\", $p / $a}") | $(awk "BEGIN {printf \"%.2f\", $p / $t}") | $ms ms | $pc% |"
    done
    echo
    echo "Correctness with more processes than cores (lecture CNN on Fashion-MNIST, 2 epochs of 2048 samples,"
    echo "Adam; frames of 128/N on N processes against frames of 128 on one):"
    echo
    echo "| processes | frame size | max weight difference to 1 process | wall seconds |"
    echo "|---:|---:|---:|---:|"
    while read -r n b d s; do echo "| $n | $b | $d | $s |"; done < "$W/many"
    echo
    echo "Commands: \`sh bench/distributed.sh\`; by hand, for two ranks:"
    echo
    echo '```'
    echo "nntrain -j 1 -m SPEC --rank 1 --world-size 2 --master 127.0.0.1:PORT fm64.bs &"
    echo "nntrain -j 1 -m SPEC --rank 0 --world-size 2 --master 127.0.0.1:PORT -o two.model fm64.bs"
    echo '```'
} > "$RESULT"
rm -f "$W/many"
cat "$RESULT"
