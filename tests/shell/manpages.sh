# Every tool has a man page with the sections doc/design.md asks for
# ("Command-line conventions"); every option
# its --help lists is documented, and every option the page documents exists.
# Each format has its man5 page; SEE ALSO names only pages that exist; make
# install puts man1 and man5 where man finds them.
. "$ROOT/tests/shell/lib.sh"
for tool in $(ls "$ROOT/tools" | sed 's/\.cpp$//'); do
    page="$ROOT/man/man1/$tool.1"
    check "$tool has a man page" '[ -f "$page" ]'
    [ -f "$page" ] || continue
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        check "$tool(1) has $section" 'grep -q "^\.SH \"*$section" "$page"'
    done
    "$tool" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u > help.txt
    sed 's/\\-/-/g' "$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u > page.txt
    check "$tool(1) documents every option of --help" '[ -z "$(comm -23 help.txt page.txt)" ] || { comm -23 help.txt page.txt >&2; false; }'
    # The option items of the page (the line after each .TP, outside EXAMPLES) must all exist.
    awk '/^\.SH/ { ex = ($2 == "EXAMPLES") } !ex && prev == ".TP" { print } { prev = $0 }' "$page" \
        | sed 's/\\-/-/g' | grep -o -- '--[a-z][a-z0-9-]*' | sort -u > items.txt
    check "$tool(1) documents no option $tool lacks" '[ -z "$(comm -13 help.txt items.txt)" ] || { comm -13 help.txt items.txt >&2; false; }'
done

# The formats' pages (man5): the batch stream and the model file, each with its sections,
# and named in the SEE ALSO of the pages of the tools that read or write it.
check "the batch stream has its page" '[ -f "$ROOT/man/man5/batchstream.5" ]'
check "the model file has its page" '[ -f "$ROOT/man/man5/imgpipe-model.5" ]'
for page in "$ROOT"/man/man5/*.5; do
    name=$(basename "$page")
    for section in NAME DESCRIPTION ERRORS EXAMPLES "SEE ALSO"; do
        check "$name has $section" 'grep -q "^\.SH \"*$section" "$page"'
    done
done
see_also() { awk '/^\.SH "?SEE ALSO/ { on = 1; next } /^\.SH/ { on = 0 } on' "$1" | sed 's/\\-/-/g' | sed -n 's/^\.BR \([a-z0-9-]*\) (\([0-9]\)).*/\1.\2/p'; }
for page in nntrain.1 nneval.1 nnpredict.1 batchstream.5; do
    check "$page: SEE ALSO imgpipe-model(5)" 'see_also "$ROOT"/man/man*/$page | grep -qx imgpipe-model.5'
done
# Every page a SEE ALSO names is one of ours, or another project's named here.
for page in "$ROOT"/man/man1/*.1 "$ROOT"/man/man5/*.5; do
    for ref in $(see_also "$page"); do
        case $ref in vips.1|mpirun.1|torchrun.1|srun.1) continue ;; esac
        check "$(basename "$page"): SEE ALSO $ref exists" '[ -f "$ROOT/man/man${ref##*.}/$ref" ]'
    done
done

# make install puts every page where man finds it (man1 and man5), and uninstall takes them away.
unset MAKEFLAGS MFLAGS MAKELEVEL
run make -C "$ROOT" --no-print-directory -o all BIN="$BIN_DIR" DESTDIR="$T/inst" PREFIX=/usr install
check_status "make install" 0
for page in "$ROOT"/man/man1/*.1 "$ROOT"/man/man5/*.5; do
    sect=$(basename "$(dirname "$page")")
    check "make install: $sect/$(basename "$page")" 'cmp -s "$page" "$T/inst/usr/share/man/$sect/$(basename "$page")"'
done
run make -C "$ROOT" --no-print-directory -o all BIN="$BIN_DIR" DESTDIR="$T/inst" PREFIX=/usr uninstall
check "make uninstall leaves no page behind" '[ $status -eq 0 ] && [ -z "$(find "$T/inst" -type f)" ]'
