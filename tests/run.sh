#!/bin/sh
# tests/run.sh [MESON-TEST-ARGS...]
#
# The test command of the README: installs the missing Debian packages (tests/install-deps.sh),
# configures the build directory if needed, builds, runs the whole test suite with `meson test`
# and ends with one line "N passed, N failed" (", N skipped" when tests were skipped).
# Arguments are passed on to `meson test` (for example a test name, or --suite unit).
# Environment: BUILD_DIR (default "build"), MESON_SETUP_ARGS (extra `meson setup` arguments,
# for example --werror; split on spaces).
set -eu

cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
setup_args=${MESON_SETUP_ARGS:-}

tests/install-deps.sh

# shellcheck disable=SC2086 # MESON_SETUP_ARGS is a list of words
if [ ! -f "$build_dir/meson-private/coredata.dat" ]; then
	meson setup $setup_args "$build_dir"
elif [ -n "$setup_args" ]; then
	meson setup --reconfigure $setup_args "$build_dir"
fi
# otherwise ninja re-runs meson by itself when a meson.build changed

# a stale log from an earlier run must not be counted if this one never gets to run a test
# (meson writes testlog.json, or testlog-SETUP.json with --setup)
rm -f "$build_dir"/meson-logs/testlog*.json

if ! ninja -C "$build_dir"; then
	echo "run.sh: the build failed, no test was run" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

rc=0
meson test -C "$build_dir" --print-errorlogs "$@" || rc=$?

testlog=""
for f in "$build_dir"/meson-logs/testlog*.json; do
	[ -f "$f" ] && testlog=$f
done
if [ -z "$testlog" ]; then
	echo "run.sh: meson test wrote no $build_dir/meson-logs/testlog.json (exit status $rc)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# meson's own verdicts; a TAP binary counts as one test, as in meson's summary
/usr/bin/python3 - "$testlog" <<'EOF'
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        if not line.strip():
            continue
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
EOF

if [ "$rc" != 0 ]; then
	exit "$rc"
fi
