#!/bin/sh
# tests/fuzz/run-fuzzers.sh [SECONDS]
#
# Builds every libFuzzer target in tests/fuzz/ with clang (ASan + UBSan) and runs each on a
# copy of its seed corpus (so the tree is not changed), for a bounded number of inputs.
# Fails if a target crashes, leaks or trips a sanitizer. Needs clang and libclang-rt-14-dev.
#
# The runs are repeatable: a fixed seed (FUZZ_SEED, default 1) and a fixed number of inputs per
# target (FUZZ_RUNS, default per target: about 20 s each here), so CI gives the same verdict on
# the same tree; SECONDS only bounds a slow machine. To look for new bugs, explore:
# FUZZ_SEED=0 (random) FUZZ_RUNS=-1 (no limit) tests/fuzz/run-fuzzers.sh 600. Put every
# crashing input found that way into tests/fuzz/corpus/<target>/ next to its fix, so it is
# replayed from then on.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
seed=${FUZZ_SEED:-1}
runs=${FUZZ_RUNS:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/ms-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# a config.h for the sources, as meson would write it
cat > "$work/config.h" <<'H'
#define PACKAGE_VERSION "fuzz"
#define GETTEXT_PACKAGE "mail-sender"
#define LOCALEDIR "/usr/share/locale"
#define LIBEXECDIR "/usr/libexec"
H

# target: the service sources it needs
sources_for() {
	case $1 in
	smtp-reply) echo "ms-smtp-reply.c" ;;
	address) echo "ms-address.c ms-message.c" ;;
	message) echo "ms-address.c ms-message.c" ;;
	raw-message) echo "ms-raw-message.c ms-raw-body.c ms-address.c ms-message.c" ;;
	raw-body) echo "ms-raw-body.c ms-raw-message.c ms-address.c ms-message.c" ;;
	mime-downgrade) echo "ms-mime-downgrade.c ms-message.c ms-address.c" ;;
	*) return 1 ;;
	esac
}

# target: how many inputs, about 20 s of work each on a 2-vCPU machine (the targets differ in
# speed by two orders of magnitude)
runs_for() {
	case $1 in
	message) echo 80000 ;;
	mime-downgrade) echo 150000 ;;
	smtp-reply) echo 300000 ;;
	raw-body) echo 500000 ;;
	*) echo 1000000 ;;
	esac
}

status=0
for src in "$top"/tests/fuzz/fuzz-*.c; do
	name=$(basename "$src" .c)
	target=${name#fuzz-}
	srcs=""
	for s in $(sources_for "$target"); do srcs="$srcs $top/service/$s"; done
	echo "fuzz: building $name"
	# shellcheck disable=SC2086 # word splitting of the source list and pkg-config is wanted
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -I"$work" -I"$top/service" $(pkg-config --cflags gio-2.0) \
		"$src" $srcs $(pkg-config --libs gio-2.0) -o "$work/$name"
	mkdir -p "$work/corpus-$target"
	if [ -d "$top/tests/fuzz/corpus/$target" ]; then
		cp "$top/tests/fuzz/corpus/$target"/* "$work/corpus-$target/"
	fi
	echo "fuzz: running $name (at most $seconds s)"
	if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"$work/$name" -seed="$seed" -runs="${runs:-$(runs_for "$target")}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/$name-" "$work/corpus-$target" >"$work/$name.log" 2>&1; then
		echo "fuzz: $name: $(grep -E '^Done|#[0-9]+.*DONE' "$work/$name.log" | tail -n 1)"
	else
		echo "fuzz: $name FAILED:"
		tail -n 40 "$work/$name.log"
		for a in "$work/$name"-*; do
			[ -e "$a" ] && echo "fuzz: crashing input (base64): $(base64 -w0 "$a")"
		done
		status=1
	fi
done
exit $status
