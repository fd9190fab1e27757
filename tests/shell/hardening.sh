# Failure behaviour across the tools (issue 5): a reader that goes away early,
# a stream cut mid-frame, a full disk (a file-size limit: the tools ignore
# SIGXFSZ, so writes fail with EFBIG), and thread-count independence.
# imgprep's own "| head -c 1000" and "-j 1 = -j 2" checks are in imgprep.sh.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"

/usr/bin/python3 "$ROOT/examples/fashion-mnist/export" fm --limit 30 > /dev/null 2>&1 || echo "$SUITE: export failed"
imglist -q fm/train > train.list
imgprep -q --size 28x28 --color grayscale train.list | batchpack -q -b 10 > g.bs
cat > tiny.json <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
JSON
nntrain -q -j1 --seed 1 --model tiny.json --epochs 1 -o tiny.model g.bs || echo "$SUITE: fixture model failed"

# No tool may die of a signal other than SIGPIPE (141) or leave a core file.
no_crash() { [ "$1" -lt 128 ] || [ "$1" -eq 141 ]; }

# ---- a reader that stops early: quiet, status 0 or 141 ----
# "{ CMD; echo $? > st; } | head" keeps CMD's own status (sh has no PIPESTATUS).
early() {  # NAME HEAD-ARGS CMD...: CMD | head HEAD-ARGS
    name=$1 h=$2; shift 2
    { "$@" 2> early.err; echo $? > early.st; } | head $h > early.out
    st=$(cat early.st)
    check "$name: ends with 0 or 141, not an error ($st)" '[ "$st" -eq 0 ] || [ "$st" -eq 141 ]'
    check "$name: nothing on stderr" '[ ! -s early.err ]'
}
mkdir -p many/a many/b
i=0; while [ $i -lt 3000 ]; do : > many/a/$i.png; : > many/b/$i.png; i=$((i + 1)); done
early "imglist | head -n 3" "-n 3" imglist -q many
check "imglist | head -n 3: three list lines" '[ $(wc -l < early.out) -eq 3 ] && grep -q "^many/a/[0-9]*.png	0	a$" early.out'
early "imgprep --epochs 0 | batchpack | head -c 1000" "-c 1000" sh -c 'imgprep -q --size 28x28 --epochs 0 train.list | batchpack -q -b 4'
check "| head -c 1000: exactly 1000 bytes" '[ $(wc -c < early.out) -eq 1000 ]'
early "batchpack | head -c 1000 (batchpack itself)" "-c 1000" batchpack -q -b 2 g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs g.bs
i=0; : > g40.bs; while [ $i -lt 40 ]; do cat g.bs >> g40.bs; i=$((i + 1)); done
early "imgmask | head -c 1000" "-c 1000" imgmask -q --random-box 4x4 --seed 1 g40.bs
early "nnpredict | head -n 3" "-n 3" nnpredict -q -j1 -m tiny.model g40.bs
check "nnpredict | head -n 3: three prediction lines" '[ $(wc -l < early.out) -eq 3 ] && grep -q "^fm/train/" early.out'

# ---- a stream cut mid-frame: the reader names the frame ----
py "$S" make 6 8 8 1 --batch 2 > six.bs   # three frames of the same size
size=$(wc -c < six.bs); frame=$((size / 3))
hlen=$(py -c "import struct; print(struct.unpack('<Q', open('six.bs', 'rb').read(8))[0])")
head -c $((2 * frame + 8 + hlen + 50)) six.bs > cut-data.bs  # in frame 3's tensor bytes
head -c $((2 * frame + 5)) six.bs > cut-prefix.bs           # in frame 3's length prefix
head -c $((2 * frame + 20)) six.bs > cut-header.bs          # in frame 3's JSON header
for tool in "batchpack -q -b 4" "imgmask -q --random-box 2x2" "imgsave -q -d saved" "imgsheet -o sheet.png" \
            "imgstats" "nntrain -q -j1 --model tiny8.json --epochs 1 -o cut.model" "nneval -q -j1 -m tiny8.model" \
            "nnpredict -q -j1 -m tiny8.model"; do
    set -- $tool; tool_name=$1
    [ "$1" = nntrain ] && [ ! -e tiny8.json ] && sed 's/\[28, 28, 1\]/[8, 8, 1]/; s/"units": 10/"units": 2/' tiny.json > tiny8.json
    [ "$1" = nneval ] && [ ! -e tiny8.model ] && nntrain -q -j1 --model tiny8.json --epochs 1 -o tiny8.model six.bs
    run sh -c "$tool > /dev/null < cut-data.bs"
    check_status "$tool_name: a stream cut in frame 3's data: exit 65" 65
    check "$tool_name: names stdin, frame 3, and the bytes" 'grep -Eq "^$tool_name: stdin: frame 3: truncated frame \(data: 50 of [0-9]+ bytes\)$" "$T/err" && [ $(wc -l < "$T/err") -eq 1 ]'
done
run batchpack -q -b 4 cut-prefix.bs
check_status "cut in the length prefix: exit 65" 65
check_err "and says how many length bytes came" "batchpack: cut-prefix.bs: frame 3: truncated frame (5 of 8 length bytes)"
run batchpack -q -b 4 cut-header.bs
check_status "cut in the header: exit 65" 65
check "and says how much header came" 'grep -Eq "^batchpack: cut-header.bs: frame 3: truncated frame \(header: 12 of [0-9]+ bytes\)$" "$T/err"'
# The frames before the cut were passed on (batchpack -b 2 forwards each).
run sh -c 'batchpack -q -b 2 < cut-data.bs > before.bs'
check "the two whole frames before the cut still reach stdout" '[ "$(py "$S" dump before.bs | wc -l)" -eq 2 ]'
# A producer whose reader dies mid-frame (head -c 100 exits after 100 bytes).
{ imgprep -q --size 28x28 --epochs 0 train.list 2> prod.err; echo $? > prod.st; } | head -c 100 > /dev/null
check "a producer whose reader dies mid-frame ends with 141, quietly" '[ "$(cat prod.st)" -eq 141 ] && [ ! -s prod.err ]'

# ---- a full disk: exit 74 naming the file, nothing under the final name ----
# dash's ulimit -f counts 512-byte blocks; every output below is larger than 2 blocks.
full() {  # NAME TARGET CMD...: runs CMD under a 1 KiB file-size limit
    name=$1 target=$2; shift 2
    run sh -c 'ulimit -f 2; exec "$@" > /dev/null' full "$@"
    check_status "$name: a full disk is exit 74" 74
    check_err "$name: names the file and the reason" "$target: write failed: File too large"
    check "$name: no partial file under the final name" '[ ! -e "$target" ] || [ "$(cat "$target")" = "old contents" ]'
    check "$name: no temporary file left beside it" '! ls "$target".tmp.* > /dev/null 2>&1'
    check "$name: no core, no signal death" 'no_crash $status'
}
full "imglist -o" out.list imglist -q -o out.list many
full "imgprep -o" out.bs imgprep -q --size 28x28 -o out.bs train.list
full "batchpack -o" out2.bs batchpack -q -b 4 -o out2.bs g.bs
imgprep -q --size 64x64 train.list > rgb.bs  # 64x64 RGB: each PNG is over the 1 KiB limit
full "imgsheet -o" sheet.png imgsheet -o sheet.png rgb.bs
full "nntrain -o" full.model nntrain -q -j1 --model tiny.json --epochs 1 -o full.model g.bs
full "nntrain --checkpoint-dir" ck/epoch-001.model nntrain -q -j1 --model tiny.json --epochs 1 --checkpoint-dir ck g.bs
full "imgsave -d" full-dir/img_000_000000.png imgsave -q -d full-dir rgb.bs
check "imgsave: no image file left at all" '[ -z "$(ls full-dir)" ]'
echo "old contents" > keep.bs
full "batchpack -o over an existing file" keep.bs batchpack -q -b 4 -o keep.bs g.bs
check "the existing file keeps its old contents" '[ "$(cat keep.bs)" = "old contents" ]'
echo "old contents" > keep.model
full "nntrain -o over an existing model" keep.model nntrain -q -j1 --model tiny.json --epochs 1 -o keep.model g.bs
check "the existing model keeps its old contents" '[ "$(cat keep.model)" = "old contents" ]'
run sh -c 'ulimit -f 2; exec batchpack -q -b 4 g.bs > stdout.bs'
check_status "stdout redirected to a full disk: exit 74" 74
check_err "naming stdout" "batchpack: stdout: write failed: File too large"
# A folder that cannot be created or written (a file in the way): 73.
: > notadir
run batchpack -q -b 4 -o notadir/x.bs g.bs
check_status "-o in a folder that is a file: exit 73" 73
check_err "naming the path" "batchpack: notadir/x.bs: cannot create: Not a directory"
run nntrain -q -j1 --model tiny.json --epochs 1 -o notadir/x.model g.bs
check_status "nntrain -o in a folder that is a file: exit 73" 73
check_err "naming the path" "nntrain: notadir/x.model: cannot create: Not a directory"

# ---- thread count: the same bytes for any -j, same seed ----
imgprep -q --size 20x20 --shuffle --seed 11 --epochs 2 -j 1 train.list > j1.bs
imgprep -q --size 20x20 --shuffle --seed 11 --epochs 2 -j 3 -b 4 train.list | batchpack -q -b 1 > j3.bs
check "imgprep --shuffle: -j 1 and -j 3 -b 4 (rebatched to 1) give the same bytes" 'cmp -s j1.bs j3.bs'
check "and the stream is not trivially empty" '[ "$(py "$S" dump j1.bs | wc -l)" -eq 60 ]'
# Every augmentation option imgprep has, named here: if one goes, the runs fail (64), not skip.
opts="--rotation-range 20 --width-shift-range 0.1 --height-shift-range 0.1 --zoom-range 0.2 --shear-range 0.1 --horizontal-flip"
run imgprep -q --size 20x20 --seed 3 --epochs 2 -j 1 $opts -o a1.bs train.list
check_status "augmentation ($opts) runs" 0
imgprep -q --size 20x20 --seed 3 --epochs 2 -j 3 $opts train.list > a3.bs
imgprep -q --size 20x20 --seed 4 --epochs 2 -j 3 $opts train.list > a4.bs
check "augmentation: -j 1 and -j 3 give the same bytes" '[ -s a1.bs ] && cmp -s a1.bs a3.bs'
check "augmentation: another seed, other bytes" '[ -s a4.bs ] && ! cmp -s a1.bs a4.bs'
imgmask -q --random-box 4x4-8x8 --random-boxes 2 --seed 9 j1.bs > m1.bs
imgmask -q --random-box 4x4-8x8 --random-boxes 2 --seed 9 j3.bs > m3.bs
check "imgmask random boxes depend on the seed and sample, not on batching" 'cmp -s m1.bs m3.bs'

# ---- fuzz findings, replayed through the real tools (inputs in tests/fuzz/corpus/) ----
F="$ROOT/tests/fuzz/corpus"
run nneval -q -m "$F/model_file/regress-huge-header-length" g.bs
check_status "a model file whose header length is past 2^63: exit 65, not 70" 65
check_err "named as not safetensors, in a stream's words" "regress-huge-header-length: not safetensors (starts with '\\x00\\x00"
run batchpack -q -b 2 "$F/frame_reader/regress-huge-tensor"
check_status "a frame header promising 1 TiB: exit 65, not an allocation failure" 65
check_err "named as a truncated frame" "regress-huge-tensor: frame 1: truncated frame (data: 10 of 1099511627776 bytes)"
tail -c +2 "$F/list_line/regress-huge-index" > huge-index.list
run imgprep -q --size 8x8 huge-index.list
check_status "a list line with label index 999999999: exit 65" 65
check_err "named by its line" "imgprep: huge-index.list:1: label index 999999999 is too large (a list holds at most 100000 classes)"
printf '{"input_shape": [28, 61e999, 1], "layers": [{"type": "Flatten"}]}' > overflow.json
run nntrain -q -j1 --model overflow.json -o o.model g.bs
check_status "a spec with the number 61e999: exit 65, not 70" 65
check_err "named as not valid JSON" "nntrain: overflow.json: not valid JSON"
py -c "print('{\"input_shape\": [28, 28, 1], \"layers\": [{\"type\": \"Lambda\", \"function\": \"' + '(' * 20000 + 'x' + ')' * 20000 + '\"}, {\"type\": \"Flatten\"}, {\"type\": \"Dense\", \"units\": 10}]}')" > deep.json
run nntrain -q -j1 --model deep.json -o o.model g.bs
check_status "a Lambda nested 20000 deep: exit 65, not a stack overflow" 65
check_err "saying so" "expression nested too deeply"
