# Every tool has a man page with the sections doc/design.md asks for
# ("Command-line conventions"); every option
# its --help lists is documented, and every option the page documents exists.
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
check "the batch stream has its page" '[ -f "$ROOT/man/man5/batchstream.5" ]'
