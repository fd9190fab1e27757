# A Keras Dense kernel stays in Keras' layout (issue 25's load in <= 2x cat:
# the parameter is the transposed view of Keras' [in, out] array, filled by a
# plain copy; doc/design.md "Keras files in"). The same weights from a Keras 2
# .h5, a Keras 3 .keras and a TF.js model.json predict what our own model file
# predicts (a batch of 40: Dense's sgemm blocks; of 3: torch::linear), and
# training on from them gives the weights and Adam's slots our file gives.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"
TFJS="$ROOT/../shared/reference/keras-models/weights/h5_to_tfjs_layers.py"

cat > d.json <<'JSON'
{"input_shape": [4, 5, 3], "layers": [
  {"type": "Flatten", "name": "flatten"},
  {"type": "Dense", "units": 48, "activation": "relu", "name": "dense"},
  {"type": "Dense", "units": 40, "activation": "relu", "name": "dense_1"},
  {"type": "Dense", "units": 3, "activation": "softmax", "name": "dense_2"}],
 "optimizer": {"type": "sgd", "learning_rate": 0.05}, "loss": "sparse_categorical_crossentropy"}
JSON
py "$S" make 64 4 5 3 --batch 32 --classes a,b,c > train.bs
py "$S" make 40 4 5 3 --batch 40 > forty.bs
py "$S" make 3 4 5 3 --batch 3 > three.bs
# A model whose weights are not Keras' initial ones (sgd without momentum: no slots to leave behind).
run nntrain -q -j 1 --seed 3 -m d.json --epochs 2 -o d.model train.bs
check_status "a Dense model to start from" 0
py "$ROOT/bench/model_load.py" d.model d.h5
py "$ROOT/tests/shell/keras_convert.py" d.h5 keras3 d.keras
formats="d.h5 d.keras"
if [ -f "$TFJS" ]; then
    py "$TFJS" d.h5 tfjs > /dev/null && formats="$formats tfjs/model.json"
fi

# diff.py A B: max |a - b| over two streams' outputs, or two model files'
# tensors (the same names and shapes, optimizer slots included), and how many.
cat > diff.py <<'PY'
import json, struct, sys
import numpy as np
def frames(path):
    d = open(path, "rb").read(); at = 0
    while at < len(d):
        n, = struct.unpack("<Q", d[at:at + 8]); h = json.loads(d[at + 8:at + 8 + n]); h.pop("__metadata__", None)
        size = max(v["data_offsets"][1] for v in h.values())
        for k, v in sorted(h.items()):
            if v["dtype"] == "F32":
                a, b = v["data_offsets"]
                yield k, v["shape"], np.frombuffer(d[at + 8 + n + a:at + 8 + n + b], np.float32)
        at += 8 + n + size
a, b = list(frames(sys.argv[1])), list(frames(sys.argv[2]))
assert [(k, s) for k, s, _ in a] == [(k, s) for k, s, _ in b], "other tensors"
print(max(float(np.max(np.abs(x - y))) for (_, _, x), (_, _, y) in zip(a, b)), len(a))
PY
within() { awk -v d="$1" -v t="$2" 'BEGIN { exit !(d <= t) }'; }

for batch in forty three; do
    run nnpredict -q -j 1 -m d.model -f stream -o "ours-$batch.bs" "$batch.bs"
    for f in $formats; do
        run nnpredict -q -j 1 -m "$f" -f stream -o "keras-$batch.bs" "$batch.bs"
        check_status "$f, a batch of $batch: nnpredict runs it" 0
        d=$(py diff.py "ours-$batch.bs" "keras-$batch.bs" | cut -d ' ' -f 1)
        check "$f, a batch of $batch: every output within 1e-6 of our model file's ($d)" 'within "$d" 1e-6'
    done
done

# Training on from a Keras file (-m: Keras' layout kept) against training the
# same weights in our layout: Adam's moments are kept in the parameter's layout
# and saved in ours; after 2 epochs (4 steps of 32: the sgemm blocks' backward)
# every weight and slot within 1e-5.
train="-q -j 1 --seed 5 --optimizer adam --lr 0.01 --loss sparse_categorical_crossentropy --epochs 2"
run nntrain $train -m d.json --init-from d.model -o ours-trained.model train.bs
check_status "training on from our model file (--init-from: our layout)" 0
changed=$(weight_diff d.model ours-trained.model)
check "training moved the weights (by up to $changed)" '! within "$changed" 0.001'
for f in $formats; do
    run nntrain $train -m "$f" -o keras-trained.model train.bs
    check_status "$f: training on from it" 0
    d=$(py diff.py ours-trained.model keras-trained.model)
    check "$f: every weight and Adam slot within 1e-5 of our file's training ($d tensors)" 'within "${d%% *}" 1e-5 && [ "${d#* }" = 18 ]'
done

# Data-parallel (2 ranks over Gloo, a shared file): the flat buffers, with the
# kernels in Keras' layout and placed at their offsets in a page, are broadcast
# and summed as they lie; the same weights and slots as 2 ranks in our layout.
free_port() { py -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
two_ranks() {  # two_ranks OUT ARGS...
    out=$1; shift
    port=$(free_port)
    RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port nntrain "$@" 2> /dev/null &
    pid1=$!
    RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port run nntrain "$@" -o "$out"
    wait $pid1
    status1=$?
}
two_ranks ours-two.model $train -m d.json --init-from d.model train.bs
check "2 ranks in our layout" '[ "$status" = 0 ] && [ "$status1" = 0 ]'
two_ranks keras-two.model $train -m d.h5 train.bs
check "2 ranks from the .h5" '[ "$status" = 0 ] && [ "$status1" = 0 ]'
d=$(py diff.py ours-two.model keras-two.model)
check "2 ranks from the .h5: every weight and slot within 1e-5 of 2 ranks in our layout ($d tensors)" 'within "${d%% *}" 1e-5 && [ "${d#* }" = 18 ]'
changed=$(weight_diff ours-trained.model ours-two.model)
check "(2 ranks did train: their weights are not one process's, by up to $changed)" '! within "$changed" 0'
