# Segmentation in the nn tools (issue 26): masks of class indices (class_mode mask) trained
# per pixel, nneval's pixel confusion and IoU checked against numpy, and the refusals.
. "$ROOT/tests/shell/lib.sh"

# mask.py N BATCH SEED C [IGNORE]: x U8 [N,8,8,3] random pixels, y the brightest of the first C
# channels (C = 1: of two, a one-channel mask of 0/1), 10% of pixels IGNORE when given.
cat > mask.py <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from stream import write_frame
n, b, seed, C = (int(a) for a in sys.argv[2:6])
ignore = sys.argv[6] if len(sys.argv) > 6 else ""
rng = np.random.default_rng(seed)
x = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
y = np.argmax(x[..., :max(C, 2)], axis=-1).astype(np.uint8)[..., None]
if ignore:
    y[rng.random(y.shape) < 0.1] = int(ignore)
names = ["bg", "red", "green"][:max(C, 2)]
for i in range(0, n, b):
    meta = {"format": "batchstream/1", "class_mode": "mask", "classes": json.dumps(names), "epoch": "1",
            "index": str(i), "epoch_size": str(n), "epochs": "1"}
    if ignore:
        meta["ignore_index"] = ignore
    write_frame(sys.stdout.buffer, {"x": x[i:i + b], "y": y[i:i + b]}, meta)
PY
mask() { py mask.py "$ROOT/tests/shell" "$@"; }
mask 64 16 1 3 255 > train.bs
mask 32 16 2 3 255 > test.bs
mask 32 16 3 1 255 > bin.bs
cat > seg.json <<'JSON'
{"input_shape": [8, 8, 3], "layers": [
  {"type": "Rescaling", "scale": 0.00392156862745098},
  {"type": "Conv2D", "filters": 3, "kernel_size": 1, "activation": "softmax"}],
 "optimizer": {"type": "adam", "learning_rate": 0.05}}
JSON
sed 's/"filters": 3/"filters": 1/; s/softmax/sigmoid/' seg.json > bin.json
meta() { py -c "
import json, struct, sys
d = open('$1', 'rb').read(); n, = struct.unpack('<Q', d[:8]); print(json.loads(d[8:8 + n])['__metadata__'].get('$2', ''))"; }

# The picked loss: sparse crossentropy per pixel; pixel accuracy and mean IoU in every epoch line.
run nntrain -j1 -m seg.json --epochs 4 --history h.jsonl -o seg.model train.bs
check_status "trains on masks" 0
check_err "epoch line shows accuracy" " - accuracy: "
check_err "epoch line shows mean_iou" " - mean_iou: "
check "picked sparse_categorical_crossentropy" '[ "$(meta seg.model loss)" = sparse_categorical_crossentropy ]'
check "history: loss falls, IoU rises" "py -c \"
import json; r = [json.loads(l) for l in open('h.jsonl')]
assert r[3]['loss'] < r[0]['loss'] and r[3]['mean_iou'] > r[0]['mean_iou'] > 0 and 0 < r[3]['accuracy'] <= 1, r\""

# nneval against numpy on nnpredict's probabilities: loss (ignored pixels out), pixel
# accuracy, Keras' MeanIoU, the confusion matrix.
run nnpredict -j1 -m seg.model --format stream -o p.bs test.bs
check_status "nnpredict writes the probabilities" 0
run nneval -j1 -m seg.model --json test.bs
check_status "nneval --json on masks" 0
cp "$T/out" eval.json
check "nneval agrees with numpy" "py -c \"
import json, sys
import numpy as np
sys.path.insert(0, '$ROOT/tests/shell')
from stream import read_frames
j = json.load(open('eval.json'))
p = np.concatenate([t['x'] for t, m in read_frames(open('p.bs', 'rb'))]).astype(np.float64)
y = np.concatenate([t['y'] for t, m in read_frames(open('test.bs', 'rb'))])[..., 0].astype(np.int64)
v = y != 255
t = np.where(v, y, 0)
ce = -np.log(np.take_along_axis(p, t[..., None], -1)[..., 0])
assert abs(ce[v].mean() - j['loss']) < 1e-5, (ce[v].mean(), j['loss'])
pred = p.argmax(-1)
cm = np.zeros((3, 3), np.int64)
np.add.at(cm, (t[v], pred[v]), 1)
s = j['segmentation']
assert s['confusion_matrix'] == cm.tolist(), (s, cm)
assert s['pixels'] == v.sum()
tp = np.diag(cm); den = cm.sum(0) + cm.sum(1) - tp
iou = tp / den
assert abs(s['mean_iou'] - iou.mean()) < 1e-9 and abs(j['mean_iou'] - iou.mean()) < 1e-5
assert abs(j['accuracy'] - (pred == t)[v].mean()) < 1e-6 and abs(s['pixel_accuracy'] - (pred == t)[v].mean()) < 1e-12
assert [s['iou'][c] for c in ('bg', 'red', 'green')] == iou.tolist()
\""
run nneval -j1 -m seg.model test.bs
check_status "nneval text on masks" 0
check_out "pixel confusion matrix" "pixel confusion matrix (rows: true class, columns: predicted class):"
check "IoU per class, named" "grep -Eq '^2 green +[01]\.[0-9]{4}$' '$T/out'"
check "mean IoU line" "grep -Eq '^mean IoU: 0\.[0-9]{4}$' '$T/out'"
run nnpredict -j1 -m seg.model test.bs
check_status "masks as text lines: refused" 64
check_err "says the way" "give --masks DIR for mask files and their list lines, or --format stream"

# One sigmoid channel: binary crossentropy per pixel, two classes.
run nntrain -j1 -m bin.json --epochs 2 -o bin.model bin.bs
check_status "one sigmoid channel trains" 0
check "picked binary_crossentropy" '[ "$(meta bin.model loss)" = binary_crossentropy ]'
run nneval -j1 -m bin.model --json bin.bs
check_status "nneval: binary masks" 0
check "a 2x2 pixel confusion" "py -c \"import json; s = json.load(open('$T/out'))['segmentation']; assert s['classes'] == ['bg', 'red'] and len(s['confusion_matrix']) == 2, s\""

# Dice, its sum with crossentropy, the dice metric, per-class weights.
run nntrain -j1 -m seg.json --loss dice --metrics dice,mean_iou --epochs 1 -o dice.model train.bs
check_status "--loss dice" 0
check_err "dice metric shown" " - dice: "
check "dice stored" '[ "$(meta dice.model loss)" = dice ]'
run nntrain -j1 -m seg.json --loss ce_dice --epochs 1 train.bs
check_status "--loss ce_dice" 0
run nntrain -j1 -m seg.json --class-weight '{"red": 3}' --epochs 1 train.bs
check_status "--class-weight on masks" 0
check_err "weights said per class" "class weights: bg 1, red 3, green 1"
run nntrain -j1 -m seg.json --class-weight balanced --epochs 1 train.bs
check_status "--class-weight balanced counts pixels" 0
check "balanced from the pixels' classes" "py -c \"
import re, sys
sys.path.insert(0, '$ROOT/tests/shell')
import numpy as np
from stream import read_frames
y = np.concatenate([t['y'] for t, m in read_frames(open('train.bs', 'rb'))]).reshape(-1)
y = y[y != 255]; c = np.bincount(y, minlength=3)
want = ', '.join('%s %.6g' % (n, len(y) / (3 * k)) for n, k in zip(['bg', 'red', 'green'], c))
assert 'class weights: ' + want in open('$T/err').read(), want
\""

# Refusals, by name.
run nntrain -j1 -m seg.json --loss mse train.bs
check_status "mse on masks: refused" 65
check_err "names the loss and the choices" "the loss mse does not take a mask of class indices (class_mode mask) against [*,8,8,3]; use sparse_categorical_crossentropy (3 softmax channels), dice or ce_dice"
run nntrain -j1 -m seg.json --metrics mae train.bs
check_status "mae on masks: refused" 65
check_err "names the metric" "the metric mae does not apply to a mask"
mask 16 16 4 3 > noignore.bs
py -c "
import sys; sys.path.insert(0, '$ROOT/tests/shell')
from stream import read_frames, write_frame
for t, m in read_frames(open('noignore.bs', 'rb')):
    y = t['y'].copy(); y[0, 0, 0, 0] = 9; t = dict(t, y=y); write_frame(sys.stdout.buffer, t, m)" > bad.bs
run nntrain -j1 -m seg.json bad.bs
check_status "a value that is no class: refused" 65
check_err "names the value" "mask value 9 (1 pixels) is not a class of the model's 3 (the stream has no ignore_index)"
run nneval -j1 -m seg.model bad.bs
check_status "nneval refuses it too" 65

# Augmentation layers in the model move the mask with the image (tests/nn checks the pixels);
# one that sees another size than the mask's cannot, and is refused by name.
cat > aug.json <<'JSON'
{"input_shape": [8, 8, 3], "layers": [
  {"type": "Rescaling", "scale": 0.00392156862745098},
  {"type": "RandomFlip"}, {"type": "RandomRotation", "factor": 0.1},
  {"type": "Conv2D", "filters": 3, "kernel_size": 1, "activation": "softmax"}]}
JSON
run nntrain -j1 -m aug.json --epochs 1 -o aug.model train.bs
check_status "augmentation layers with masks: trains" 0
cat > aug-small.json <<'JSON'
{"input_shape": [8, 8, 3], "layers": [
  {"type": "MaxPooling2D"}, {"type": "RandomFlip"}, {"type": "UpSampling2D"},
  {"type": "Conv2D", "filters": 3, "kernel_size": 1, "activation": "softmax"}]}
JSON
run nntrain -j1 -m aug-small.json --epochs 1 -o aug-small.model train.bs
check_status "augmentation at another size than the mask: refused" 65
check_err "names the layer and the sizes" "layer random_flip (RandomFlip) transforms images of 4x4 but the target y is 8x8, so it cannot move y with x"
check "and writes no model" "[ ! -e aug-small.model ]"

# Each class's IoU as a metric (iou): iou_0, iou_1, ... in the epoch lines, the history, --monitor.
run nntrain -j1 -m seg.json --metrics accuracy,iou --epochs 2 --val test.bs --monitor val_iou_2 --history hi.jsonl -o iou.model train.bs
check_status "--metrics iou" 0
check_err "each class's IoU in the epoch line" " - iou_0: "
check_err "and validation's" " - val_iou_2: "
check "history keys per class" "py -c \"import json; r = json.loads(open('hi.jsonl').readline()); assert all('iou_%d' % i in r and 'val_iou_%d' % i in r for i in range(3)), r\""
# The same with masks of rank 3 ([n,h,w], no channel axis): refused by name, not an internal error.
py -c "
import sys; sys.path.insert(0, '$ROOT/tests/shell')
from stream import read_frames, write_frame
for t, m in read_frames(open('train.bs', 'rb')):
    write_frame(sys.stdout.buffer, dict(t, y=t['y'][..., 0].copy()), m)" > rank3.bs
run nntrain -j1 -m aug-small.json --epochs 1 rank3.bs
check_status "rank-3 masks, augmentation at another size: refused" 65
check_err "names the layer" "layer random_flip (RandomFlip) transforms images of 4x4 but the target y is 8x8"
run nntrain -j1 -m aug.json --epochs 1 rank3.bs
check_status "rank-3 masks train" 0
