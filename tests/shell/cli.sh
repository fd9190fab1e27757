# The command line every tool shares (lib/cli): mistyped options.
. "$ROOT/tests/shell/lib.sh"

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

