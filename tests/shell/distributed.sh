# nntrain data-parallel over c10d (Gloo) on 127.0.0.1: 2 ranks on frames of 64
# reach the weights 1 process reaches on frames of 128 (SGD and Adam), from a
# shared file, from each rank's own pipe, and under a real launcher (mpirun);
# a world of one is the single-process path bit for bit; a rank that dies,
# fails, never comes or is interrupted stops every rank with a message naming it.
. "$ROOT/tests/shell/lib.sh"
FM="/usr/bin/python3 $ROOT/tests/nn/fmnist_stream.py"
# a port nobody listens on now
free_port() { py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
# frames K, K+N, ... of a one-epoch stream file (the part rank K of N reads),
# as a stream of its own: its epoch_size says how many samples it holds
frames_of() { py -c "
import json, struct
d = open('$1', 'rb').read(); frames = []; at = 0
while at < len(d):
    n, = struct.unpack('<Q', d[at:at + 8]); h = json.loads(d[at + 8:at + 8 + n])
    size = max([v['data_offsets'][1] for k, v in h.items() if k != '__metadata__'] + [0])
    frames.append((h, d[at + 8 + n:at + 8 + n + size])); at += 8 + n + size
mine = frames[$2::$3]; total = sum(h['x']['shape'][0] for h, _ in mine)
with open('$4', 'wb') as out:
    for h, data in mine:
        h['__metadata__']['epoch_size'] = str(total); head = json.dumps(h).encode()
        out.write(struct.pack('<Q', len(head)) + head + data)"; }
# two ranks, torchrun's variables set by hand; rank 1's stderr in $T/err1
two_ranks() {  # two_ranks ARGS... (rank 0 adds -o two.model)
    port=$(free_port)
    RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port nntrain "$@" 2> "$T/err1" &
    pid1=$!
    RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port run nntrain "$@" -o two.model
    wait $pid1
    status1=$?
}

cat > cnn.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": [2, 2]},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"], "optimizer": "sgd"}
JSON
sed 's/"optimizer": "sgd"/"optimizer": "adam"/' cnn.json > adam.json
$FM --count 1024 --batch 64 > t64.bs
$FM --count 1024 --batch 128 > t128.bs
$FM --test --count 256 --batch 64 > val.bs

# Equivalence: rank r of 2 reads frames r, r+2, ... of the 64-sample file, so
# global step k sees the samples of the 128-sample file's frame k.
for opt in sgd adam; do
    spec=cnn.json; [ $opt = adam ] && spec=adam.json
    run nntrain -m $spec t128.bs --epochs 2 --seed 3 -j 1 -q -o one.model
    two_ranks -m $spec t64.bs --epochs 2 --seed 3 -j 1
    check_status "$opt: rank 0 of 2 exits 0" 0
    check "$opt: rank 1 of 2 exits 0" '[ "$status1" -eq 0 ]'
    check_err "$opt: the file is shared, frames interleaved" "t64.bs: shared by 2 ranks (rank 0 reads its frames 1, 3, 5, ...)"
    check_err "$opt: the ranks' weights are checked equal" "all 2 ranks hold the same weights"
    check "$opt: 2 x 64 reach 1 x 128's weights within 1e-5" \
        "py -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1e-5)' $(weight_diff one.model two.model)"
    check "$opt: rank 1 prints nothing but for trouble" '[ ! -s "$T/err1" ]'
done
# the epochs' logs are the whole world's: the same loss and accuracy as one process
run nntrain -m cnn.json t128.bs --epochs 1 --seed 3 -j 1 --val val.bs -o one.model
grep Epoch "$T/err" | sed 's/.*samples\/s//' > one.log
two_ranks -m cnn.json t64.bs --epochs 1 --seed 3 -j 1 --val val.bs
grep Epoch "$T/err" | sed 's/.*samples\/s//' > two.log
check "scores of 2 ranks (training and validation) are 1 process's" 'cmp -s one.log two.log && [ -s one.log ]'

# BatchNormalization and Dropout: the ranks still hold the same weights (rank 0's
# running statistics after every step), and validate with them.
cat > bn.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3]},
  {"type": "BatchNormalization"}, {"type": "Activation", "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": [2, 2]},
  {"type": "Flatten"}, {"type": "Dropout", "rate": 0.25},
  {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
JSON
two_ranks -m bn.json t64.bs --epochs 2 --seed 3 -j 1 --val val.bs
check_status "BatchNormalization and Dropout on 2 ranks: exits 0" 0
check_err "BatchNormalization and Dropout: the ranks hold the same weights" "all 2 ranks hold the same weights"

# A world of one is the single-process path: the same weights, bit for bit.
run nntrain -m adam.json t128.bs --epochs 2 --seed 3 -j 1 -q -o one.model
run nntrain -m adam.json t128.bs --epochs 2 --seed 3 -j 1 -q -o world1.model --rank 0 --world-size 1
check_status "--world-size 1 trains" 0
check "--world-size 1 is bitwise the single process" '[ "$(weight_diff one.model world1.model)" = 0.0 ]'

# Each rank its own pipe (as from imglist --shard K/N | imgprep): the same steps.
frames_of t64.bs 0 2 part0.bs
frames_of t64.bs 1 2 part1.bs
run nntrain -m adam.json t128.bs --epochs 1 --seed 3 -j 1 -q -o one.model
port=$(free_port)
cat part1.bs | nntrain -m adam.json - --seed 3 -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
cat part0.bs | run nntrain -m adam.json - --seed 3 -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o two.model
wait $pid1
check_status "pipes: rank 0 exits 0" 0
check "pipes: each rank's own pipe, not shared" '! grep -q shared "$T/err"'
check "pipes: 2 pipes of 64 reach 1 x 128's weights within 1e-5" \
    "py -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1e-5)' $(weight_diff one.model two.model)"
# uneven parts: every epoch ends at the same step; the longer part's rest is skipped, and said so
$FM --count 192 --batch 64 > short.bs
port=$(free_port)
cat short.bs | nntrain -m cnn.json - -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
cat part0.bs | run nntrain -m cnn.json - -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o uneven.model
wait $pid1; status1=$?
check_status "uneven pipes: rank 0 exits 0" 0
check "uneven pipes: rank 1 exits 0" '[ "$status1" -eq 0 ]'
check_err "uneven pipes: 3 steps, as the shorter part" "1 - 3 steps"
check_err "uneven pipes: the longer part's rest is named" "stdin: epoch 1: 5 batches (320 samples) left unused: another rank's part of the epoch ended first"

# Each rank its own pipe of imgprep --shard K/2 --epochs 2: every rank trains
# the 2 epochs its pipe carries (no --epochs), and refuses an --epochs of 1.
"$ROOT/examples/fashion-mnist/export" fmpng --limit 100 > /dev/null
imglist -q fmpng/train > fm.list
shard_pipe() { imgprep -q --size 28x28 --color grayscale --shard "$1"/2 --epochs 2 --shuffle fm.list | batchpack -q -b 10; }
for epochs in "" "--epochs 1"; do
    port=$(free_port)
    shard_pipe 2 | nntrain -m cnn.json $epochs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
    pid1=$!
    shard_pipe 1 | run nntrain -m cnn.json $epochs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o sharded.model
    wait $pid1; status1=$?
    if [ -z "$epochs" ]; then
        check_status "shard pipes of 2 epochs: rank 0 exits 0" 0
        check "shard pipes of 2 epochs: rank 1 exits 0" '[ "$status1" -eq 0 ]'
        check_err "shard pipes of 2 epochs: both epochs trained, 5 steps each" "Epoch 2/2 - 5 steps"
    else
        check_status "shard pipes of 2 epochs, --epochs 1: refused on rank 0" 64
        check "shard pipes of 2 epochs, --epochs 1: refused on rank 1" '[ "$status1" -eq 64 ] && grep -q "stdin carries 2 epochs" "$T/err1"'
    fi
done

# A real launcher: Open MPI's mpirun (OMPI_COMM_WORLD_* variables; Gloo underneath).
if command -v mpirun > /dev/null; then
    run nntrain -m cnn.json t128.bs --epochs 1 --seed 3 -j 1 -q -o one.model
    port=$(free_port)
    run mpirun --allow-run-as-root --oversubscribe -n 2 -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=$port \
        nntrain -m cnn.json t64.bs --epochs 1 --seed 3 -j 1 -o mpi.model
    check_status "mpirun -n 2: exits 0" 0
    check_err "mpirun -n 2: the ranks agree" "all 2 ranks hold the same weights"
    check "mpirun -n 2: 1 x 128's weights within 1e-5" \
        "py -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1e-5)' $(weight_diff one.model mpi.model)"
else
    _result fail "mpirun is installed (make deps: openmpi-bin)"
fi

# Failures: nothing hangs, every rank exits non-zero, the culprit is named.
echo junk > junk.bs
port=$(free_port)
nntrain -m cnn.json t64.bs --val junk.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nntrain -m cnn.json t64.bs --val val.bs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o bad.model
wait $pid1; status1=$?
check_status "a rank with bad input: the other exits 69" 69
check_err "a rank with bad input: named, with its reason" "rank 1 failed: junk.bs: frame 1: truncated frame"
check "a rank with bad input: it exits 65, labelled" '[ "$status1" -eq 65 ] && grep -q "^nntrain (rank 1): junk.bs" "$T/err1"'
check "a rank with bad input: no model written" '[ ! -e bad.model ]'

port=$(free_port)
run nntrain -m cnn.json t64.bs -j 1 --rank 0 --world-size 3 --master 127.0.0.1:$port --connect-timeout 2
check_status "ranks that never come: 69 after --connect-timeout" 69
check_err "ranks that never come: named" "rendezvous at 127.0.0.1:$port: ranks 1, 2 of 3 did not arrive within 2 s (--connect-timeout)"
run nntrain -m cnn.json t64.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port --connect-timeout 1
check_status "no rank 0: 69" 69
check_err "no rank 0: said so" "no rank 0 there within 1 s (--connect-timeout)"

# A rank killed mid-run: the other stops at once, keeps the complete epochs, exits 69.
$FM --count 2048 --batch 64 > long.bs
port=$(free_port)
nntrain -m cnn.json long.bs --epochs 100 -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
( while ! [ -e ck/epoch-001.model ]; do sleep 0.1; done; kill -9 $pid1 ) &
run nntrain -m cnn.json long.bs --epochs 100 -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port --checkpoint-dir ck
wait $pid1 2>/dev/null
check_status "a rank killed: the other exits 69" 69
check_err "a rank killed: named" "rank 1 ended without a word (killed, or out of memory?)"
check "a rank killed: rank 0 saves the last complete epoch" '[ -e ck/interrupted.model ]'
check_err "a rank killed: and says where" "saved to ck/interrupted.model; continue with --resume ck/interrupted.model"

# SIGINT to one rank: every rank stops after the step, rank 0 saves; --resume
# then continues with another world size (here, one process).
rm -rf ck
port=$(free_port)
nntrain -m cnn.json long.bs --epochs 100 -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
( while ! [ -e ck/epoch-002.model ]; do sleep 0.1; done; kill -INT $pid1 ) &
run nntrain -m cnn.json long.bs --epochs 100 -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port --checkpoint-dir ck
wait $pid1; status1=$?
check_status "SIGINT on rank 1: rank 0 stops too, 130" 130
check "SIGINT on rank 1: rank 1 exits 130" '[ "$status1" -eq 130 ]'
check_err "SIGINT on rank 1: rank 0 saves" "interrupted (SIGINT in epoch"
run nntrain --resume ck/interrupted.model long.bs --epochs 4 -j 1 -o resumed.model
check_status "resumed by one process after 2 ranks: exits 0" 0
check_err "resumed: continues with the next epochs" "Epoch 4/4"

# Usage: a placement that cannot be, said before anything starts.
run nntrain -m cnn.json t64.bs --rank 0
check_status "--rank without --world-size: 64" 64
check_err "--rank without --world-size: said" "--rank and --world-size go together"
run nntrain -m cnn.json t64.bs --rank 2 --world-size 2 --master 127.0.0.1:1
check_status "rank 2 of 2: 64" 64
check_err "rank 2 of 2: said" "rank 2 is not below the world size 2 (ranks count from 0)"
RANK=1 WORLD_SIZE=2 run nntrain -m cnn.json t64.bs
check_status "torchrun's RANK without MASTER_ADDR: 64" 64
check_err "torchrun's RANK without MASTER_ADDR: said" "rank 1 of 2 (torchrun) has no rendezvous: give --master HOST:PORT, or set MASTER_ADDR and MASTER_PORT"
run nntrain -m cnn.json t64.bs --rank 0 --world-size 2 --master 127.0.0.1
check_status "--master without a port: 64" 64
check_err "--master without a port: said" "--master wants HOST:PORT"
SLURM_PROCID=x SLURM_NTASKS=2 run nntrain -m cnn.json t64.bs
check_status "a launcher's bad variable: 64" 64
check_err "a launcher's bad variable: named" 'SLURM_PROCID is "x", not a whole number'

# torchrun (its agent serves the rendezvous: every rank is a client, under
# /worker/attempt_0), through examples/torchrun.py, Debian 12's torchrun fixed.
run nntrain -m cnn.json t128.bs --epochs 1 --seed 3 -j 1 -q -o one.model
run "$ROOT/examples/torchrun.py" --nproc_per_node 2 --master_port "$(free_port)" --no_python \
    nntrain -m cnn.json t64.bs --epochs 1 --seed 3 -j 1 -o torchrun.model
check_status "torchrun --nproc_per_node 2: exits 0" 0
check_err "torchrun: the ranks agree" "all 2 ranks hold the same weights"
check "torchrun: 1 x 128's weights within 1e-5" \
    "py -c 'import sys; sys.exit(not float(sys.argv[1]) <= 1e-5)' $(weight_diff one.model torchrun.model)"

# Ranks started with different options would pair unrelated operations: refused by all.
port=$(free_port)
nntrain -m cnn.json t64.bs --val val.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nntrain -m cnn.json t64.bs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o differ.model
wait $pid1; status1=$?
check_status "ranks with different options: 64" 64
check "ranks with different options: rank 1 too" '[ "$status1" -eq 64 ]'
check_err "ranks with different options: the one that differs, with each rank's value" "the ranks were started with different settings: --val is not given on rank 0, given on rank 1"
port=$(free_port)
nntrain -m cnn.json t64.bs --epochs 3 -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nntrain -m cnn.json t64.bs --epochs 2 -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o differ.model
wait $pid1; status1=$?
check_err "ranks with different --epochs: both values" "--epochs is 2 on rank 0, 3 on rank 1"
check "ranks with different --epochs: rank 1 says it too" 'grep -q -- "--epochs is 2 on rank 0, 3 on rank 1" "$T/err1"'

# Each rank its own shard, files of the same size and frame layout (imgprep
# --shard K/2, batches of 10): told apart by their content, so every rank reads
# all of its own (200 samples an epoch), never half of each as if shared.
$FM --offset 1000 --count 100 --batch 10 > shard1.bs
$FM --offset 1100 --count 100 --batch 10 > shard2.bs
check "equal shards: the same size, the same frame sizes" '[ "$(wc -c < shard1.bs)" -eq "$(wc -c < shard2.bs)" ]'
port=$(free_port)
nntrain -m cnn.json shard2.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nntrain -m cnn.json shard1.bs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o shards.model
wait $pid1; status1=$?
check "equal shards: both ranks exit 0" '[ "$status" -eq 0 ] && [ "$status1" -eq 0 ]'
check_err "equal shards: each rank reads all of its own" "shard1.bs: each rank reads all of its own file (the ranks' training data differ)"
check_err "equal shards: 10 steps an epoch (200 samples), not 5" "Epoch 1/1 - 10 steps"
check "equal shards: not read as one shared file" '! grep -q "shared by" "$T/err"'
port=$(free_port)
nneval -m shards.model shard2.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nneval -m shards.model shard1.bs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port
wait $pid1
check_err "equal shards, nneval: every sample scored" "200 samples in 20 batches on 2 ranks"

# nneval and nnpredict on N ranks: a shared file's batches interleaved (every
# sample once), or each rank its own stream; rank 0 writes the whole result.
run nntrain -m cnn.json t128.bs --epochs 1 --seed 3 -j 1 -q -o eval.model
$FM --test --count 320 --batch 64 > test5.bs  # 5 batches: rank 0 takes 3, rank 1 takes 2
frames_of test5.bs 0 2 part0.bs; frames_of test5.bs 1 2 part1.bs
both() {  # both TOOL ARGS...: rank 1 in the background (stderr in $T/err1), rank 0 through run
    tool=$1; shift
    port=$(free_port)
    $tool "$@" -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port > out1 2> "$T/err1" &
    pid1=$!
    run $tool "$@" -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port
    wait $pid1; status1=$?
}
run nneval -m eval.model test5.bs -q -o one.txt
run nneval -m eval.model test5.bs --json -q -o one.json
both nneval -m eval.model test5.bs -o two.txt
check_status "nneval on 2 ranks: exits 0" 0
check "nneval on 2 ranks: rank 1 exits 0, writes nothing" '[ "$status1" -eq 0 ] && [ ! -s out1 ] && [ ! -s "$T/err1" ]'
check_err "nneval on 2 ranks: the file is shared" "test5.bs: shared by 2 ranks (rank 0 reads its batches 1, 3, 5, ...)"
check_err "nneval on 2 ranks: counts every sample once" "nneval: 320 samples in 5 batches on 2 ranks"
check "nneval on 2 ranks: the report is one process's (loss, accuracy, confusion matrix)" 'cmp -s one.txt two.txt && grep -q "accuracy: 0" two.txt'
both nneval -m eval.model test5.bs --json -o two.json
check "nneval --json on 2 ranks: the same numbers" "py -c '
import json, math; a, b = json.load(open(\"one.json\")), json.load(open(\"two.json\"))
assert a[\"confusion_matrix\"] == b[\"confusion_matrix\"] and a[\"samples\"] == b[\"samples\"] == 320
assert a[\"accuracy\"] == b[\"accuracy\"] and math.isclose(a[\"loss\"], b[\"loss\"], rel_tol=1e-12)'"
port=$(free_port)
cat part1.bs | nneval -m eval.model -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
cat part0.bs | run nneval -m eval.model -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o pipes.txt
wait $pid1
check "nneval, each rank its own pipe: the report is one process's" 'cmp -s one.txt pipes.txt'
both nneval -m eval.model test5.bs --min-accuracy 0.99 -q
check_status "nneval --min-accuracy on 2 ranks: below the bar, 1" 1
check "nneval --min-accuracy: rank 1 decides alike" '[ "$status1" -eq 1 ]'

run nnpredict -m eval.model test5.bs -k 2 -o one.tsv
both nnpredict -m eval.model test5.bs -k 2 -o two.tsv
check_status "nnpredict on 2 ranks: exits 0" 0
check "nnpredict on 2 ranks: the output is one process's, byte for byte" 'cmp -s one.tsv two.tsv && [ "$(wc -l < two.tsv)" -eq 320 ]'
run nnpredict -m eval.model test5.bs -f stream -o one.out
both nnpredict -m eval.model test5.bs -f stream -o two.out
check "nnpredict --format stream on 2 ranks: one process's stream" 'cmp -s one.out two.out'
port=$(free_port)
cat part1.bs | nnpredict -m eval.model -k 2 -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
cat part0.bs | run nnpredict -m eval.model -k 2 -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o pipes.tsv
wait $pid1
check_err "nnpredict, each rank its own pipe: every rank's batches counted" "320 samples in 5 batches on 2 ranks"
check "nnpredict, each rank its own pipe: one process's predictions, a round of each rank in turn" \
    'cut -f 2- one.tsv | sort > a; cut -f 2- pipes.tsv | sort > b; cmp -s a b && [ "$(wc -l < pipes.tsv)" -eq 320 ]'
if command -v mpirun > /dev/null; then
    run nnpredict -m eval.model test5.bs -o one.tsv
    run mpirun --allow-run-as-root --oversubscribe -n 3 -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=$(free_port) \
        nnpredict -m eval.model test5.bs -j 1 -o mpi.tsv
    check "mpirun -n 3 nnpredict: one process's output" 'cmp -s one.tsv mpi.tsv'
else
    _result fail "mpirun is installed (make deps: openmpi-bin)"
fi
# failures: a rank on bad data is named and no output is left; ranks with other models are refused
both nnpredict -m eval.model test5.bs --steps 9 -o bad.tsv
check_status "nnpredict, --steps past the stream on every rank: 65" 65
check "nnpredict, a failed run: no output file" '[ ! -e bad.tsv ]'
port=$(free_port)
nnpredict -m eval.model junk.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nnpredict -m eval.model test5.bs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port -o bad.tsv
wait $pid1; status1=$?
check_status "nnpredict, a rank with bad input: the other exits 69" 69
check_err "nnpredict, a rank with bad input: named, with its reason" "rank 1 failed: junk.bs: frame 1: truncated frame"
check "nnpredict, a rank with bad input: it exits 65; no output file" '[ "$status1" -eq 65 ] && [ ! -e bad.tsv ]'
run nntrain -m adam.json t128.bs --epochs 1 -j 1 -q -o other.model
port=$(free_port)
nneval -m other.model test5.bs -j 1 --rank 1 --world-size 2 --master 127.0.0.1:$port 2> "$T/err1" &
pid1=$!
run nneval -m eval.model test5.bs -j 1 --rank 0 --world-size 2 --master 127.0.0.1:$port
wait $pid1; status1=$?
check_status "nneval, ranks with different models: 64" 64
check "nneval, ranks with different models: rank 1 too" '[ "$status1" -eq 64 ]'
check_err "nneval, ranks with different models: said" "the ranks were started with different models or --steps"
