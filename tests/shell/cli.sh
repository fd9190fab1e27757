# The command line every tool shares (lib/cli): mistyped options, and progress on a terminal.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"

# A number out of its range is named in words, whatever the tool (lib/cli
# rewords CLI11's checks, which printed 1.797693e308 in 300 digits).
for c in "batchpack -b 0:--batch-size: 0 is not a positive number" \
         "imgmask --random-box 2x2 --random-boxes 0:--random-boxes: 0 is not a positive number" \
         "imgprep --epochs -1:--epochs: -1 is not a number of 0 or more" \
         "imgsheet --max -3:--max: -3 is not a number of 0 or more" \
         "imgprep -j -2:--threads: -2 is not a number of 0 or more" \
         "imgsheet --scale 17:--scale: 17 is not in the range 1 to 16" \
         "nnpredict -m x.model -k 0:--top-k: 0 is not a positive number" \
         "nntrain -m x.json --lr 0:--lr: 0 is not a positive number"; do
    cmd=${c%%:*}; msg=${c#*:}
    run $cmd < /dev/null
    check_status "$cmd: a usage error" 64
    check "$cmd: says \"$msg\"" '[ "$(cat "$T/err")" = "${cmd%% *}: $msg (see --help)" ]'
done

# A mistyped option is named first, with the closest real one.
run imgprep --epoch 3 < /dev/null
check_status "imgprep --epoch 3: a usage error" 64
check "names the unknown option and suggests --epochs" '[ "$(cat "$T/err")" = "imgprep: unknown option --epoch (did you mean --epochs?)" ]'
run imgprep --epoch=3 < /dev/null
check_status "imgprep --epoch=3: a usage error" 64
check "names the option without its value" '[ "$(cat "$T/err")" = "imgprep: unknown option --epoch (did you mean --epochs?)" ]'
run batchpack --bath 32 < /dev/null
check_status "batchpack --bath 32" 64
check "suggests --batch" '[ "$(cat "$T/err")" = "batchpack: unknown option --bath (did you mean --batch?)" ]'
mkdir -p d/a && : > d/a/1.png
run imglist --clases a d
check_status "imglist --clases a d" 64
check "suggests --classes" '[ "$(cat "$T/err")" = "imglist: unknown option --clases (did you mean --classes?)" ]'
run imglist --clases a
check_status "a mistyped option whose value fills the required folder" 64
check "is still named first" '[ "$(cat "$T/err")" = "imglist: unknown option --clases (did you mean --classes?)" ]'
run imgprep --interp nearest < /dev/null
check "the start of one option's name suggests it" '[ "$(cat "$T/err")" = "imgprep: unknown option --interp (did you mean --interpolation?)" ]'
run imgprep --frobnicate < /dev/null
check_status "a wildly wrong option" 64
check "gets no silly suggestion" '[ "$(cat "$T/err")" = "imgprep: unknown option --frobnicate (see --help)" ]'
run batchpack --xz < /dev/null
check "nor does a short wrong one" '[ "$(cat "$T/err")" = "batchpack: unknown option --xz (see --help)" ]'
run imglist d e
check_status "an extra argument that is not an option" 64
check "keeps CLI11's message" 'grep -q "not expected: e" "$T/err" && ! grep -q "unknown option" "$T/err"'
run batchpack --batch 0 < /dev/null
check "a known option with a bad value keeps its own message" 'grep -q -- "--batch" "$T/err" && ! grep -q "unknown option" "$T/err"'

# On a terminal (script(1) gives a pseudo-terminal), a bar drawn in place is cleared or
# finished before any other line, so no line runs into a bar.
if command -v script > /dev/null && script -qec true /dev/null > /dev/null 2>&1; then
    py -c '
from PIL import Image
for i in range(6): Image.new("RGB", (8, 8), (i * 40, 0, 0)).save("p%d.png" % i)'
    printf 'not an image' > bad.png
    { printf 'bad.png\t0\ta\n'; for i in 0 1 2 3 4 5; do printf 'p%d.png\t0\ta\n' $i; done; } > list.txt
    # imgprep -k: epoch 1 ends on a full bar; the bad file is warned about on a line of its own.
    script -qec "imgprep -j1 -k --size 8x8 --epochs 2 -o a.bs list.txt" /dev/null > tty1.txt 2>&1
    tr '\r' '\n' < tty1.txt | sed 's/\x1b\[K//g' > lines1.txt
    check "on a terminal imgprep's bar is prefixed with its name" 'grep -q "^imgprep: 7/7 \[==============================\]" lines1.txt'
    check "a warning is a line of its own" 'grep -q "^imgprep: bad.png: " lines1.txt && ! grep -q "\] - [0-9:]*s*imgprep: " lines1.txt'
    # Every line on a terminal starts by clearing the line, so another stage's bar
    # (drawn with \r, no newline) is replaced, not run into. (tests/unit/test_progress.cpp
    # checks a bar and the lines after it within one process.)
    py "$S" make 5 4 4 3 > s.bin
    script -qec "batchpack -b 2 -o /dev/null s.bin" /dev/null > tty3.txt 2>&1
    check "batchpack's line on a terminal clears the line first" 'grep -q "$(printf "\r\033\\[K")batchpack: 5 samples" tty3.txt'
    script -qec "imgprep -q -j1 -k --size 8x8 -o c.bs list.txt" /dev/null > tty4.txt 2>&1
    check "so do warnings, even with -q" 'grep -q "$(printf "\r\033\\[K")imgprep: bad.png: " tty4.txt'
else
    _result fail "script(1) (bsdutils) gives a pseudo-terminal (/dev/ptmx): the terminal checks need one"
fi
