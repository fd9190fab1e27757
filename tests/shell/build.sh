# The build's own output (issue 8): one short line a file by default, the whole
# command with V=1, and the libraries' headers included as system headers
# (-isystem), so that their warnings do not bury ours. One small object, built
# into the test's own folder.
. "$ROOT/tests/shell/lib.sh"
# Under `make test -j2` the jobserver and the top make's variables would leak into ours.
unset MAKEFLAGS MFLAGS MAKELEVEL
obj=lib/cli/random
run make -C "$ROOT" --no-print-directory BUILD="$T/b" BIN="$T/b/bin" "$T/b/$obj.o"
check_status "make builds an object" 0
check "printing one short line for it" '[ "$(cat out)" = "  CXX  $obj.cpp" ]'
check "and no warning" '[ ! -s err ]'
rm -rf b
run make -C "$ROOT" --no-print-directory V=1 BUILD="$T/b" BIN="$T/b/bin" "$T/b/$obj.o"
check_status "make V=1 builds it too" 0
check "printing the whole command instead" 'grep -q -- " -c $obj.cpp -o $T/b/$obj.o" out && ! grep -q "^  CXX " out'
check "with the libraries' headers as system headers" '! grep -q -- " -I/" out'
