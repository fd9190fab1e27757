# The README's first pipeline runs as written, from a clone, on a small real
# data set (two Fashion-MNIST classes as data/{train,validation,test}).
. "$ROOT/tests/shell/lib.sh"

/usr/bin/python3 "$ROOT/examples/fashion-mnist/export" fm --limit 600 > /dev/null 2>&1 || echo "$SUITE: fixture: export failed"
for part in train:0:24 validation:24:32 test:32:40; do
    IFS=: read -r name from to <<EOF
$part
EOF
    for class in 0_tshirt_top 1_trouser; do
        mkdir -p "data/$name/$class"
        ls "fm/train/$class" | sed -n "$((from + 1)),${to}p" | while read -r f; do cp "fm/train/$class/$f" "data/$name/$class/"; done
    done
done
ln -s "$ROOT/examples" examples

# The first ```sh block of the README, exactly.
awk '/^```sh$/ && !done {on = 1; next} /^```$/ && on {on = 0; done = 1} on' "$ROOT/README.md" > first.sh
check "the README's first block is found" 'grep -q "^set -o pipefail$" first.sh && [ $(wc -l < first.sh) -ge 6 ]'
run /bin/bash -e first.sh
check_status "the README's first pipeline runs as written" 0
check "it trained 20 epochs, one of the file's each" '[ $(wc -l < history.jsonl) -eq 20 ] && grep -q "Epoch 20/20 - 1 steps" "$T/err"'
check "it evaluated" 'grep -Eq "^loss: [0-9.e+-]+ - accuracy: [0-9.]+$" "$T/out"'
check "it predicted every test image" '[ $(wc -l < predictions.tsv) -eq 16 ]'

# Every model spec the README names exists.
for spec in $(grep -o 'examples/[a-z/-]*\.json' "$ROOT/README.md" | sort -u); do
    check "README's $spec exists" '[ -f "$ROOT/$spec" ]'
done
