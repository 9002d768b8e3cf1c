#!/bin/bash
# tests/bench/run.sh
#
# The benchmark of tests/bench/README.md: org.mail.Sender against msmtp, Python smtplib and
# nodemailer on one local SMTP sink, in interleaved rounds, for plain SMTP, STARTTLS and
# implicit TLS. Installs what is missing (msmtp with apt-get, nodemailer with npm ci from the
# npm registry), builds the project if needed, compiles the D-Bus client, then runs
# tests/bench/bench.py on a private session bus and prints a Markdown table. A message that
# the sink did not receive exactly once fails the run (exit status 1).
#
# Environment (all optional):
#   BUILD_DIR               meson build directory (default "build"; set up if missing)
#   BENCH_ROUNDS            rounds (default 3); each round runs every contender once per mode
#   BENCH_MESSAGES          messages per run for org.mail.Sender, smtplib, nodemailer (1000)
#   BENCH_MSMTP_MESSAGES    messages per msmtp run (100: one process each, it is slow)
#   BENCH_LATENCY_MESSAGES  sequential sends for the Send→Sent latency (50)
#   BENCH_MODES             "plain starttls implicit-tls" or a subset
#   BENCH_CONTENDERS        "daemon-1 daemon-8 daemon-latency msmtp smtplib nodemailer" or a subset
#   BENCH_MAX_CONNECTIONS   the daemon account's max-connections (default 5, like nodemailer's pool)
#   BENCH_WINDOW            Send calls each D-Bus client keeps in flight (default 1)
#   BENCH_TMPDIR            where the scratch directory (with the daemon's spool) goes
#                           (default /var/tmp: on disk, where /tmp may be tmpfs)
set -eu

cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
contenders=${BENCH_CONTENDERS:-daemon-1 daemon-8 daemon-latency msmtp smtplib nodemailer}

say() { echo "bench: $*" >&2; }
die() {
	say "$*"
	exit 1
}
wants() { case " $contenders " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

# packages: the build's (tests/install-deps.sh), then the contenders'
tests/install-deps.sh
if wants msmtp && ! command -v msmtp >/dev/null; then
	[ "$(id -u)" = 0 ] ||
		die "msmtp is missing: sudo apt-get install msmtp (or leave it out of BENCH_CONTENDERS)"
	say "installing msmtp"
	# msmtp asks whether to enable its AppArmor profile; answer as the default does
	echo "msmtp msmtp/apparmor boolean false" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q msmtp </dev/null >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q msmtp </dev/null >/dev/null; } ||
		die "cannot install msmtp"
fi
if wants nodemailer; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		die "node and npm are needed for nodemailer: apt-get install nodejs npm" \
			"(or leave nodemailer out of BENCH_CONTENDERS)"
	fi
	lock=tests/bench/nodemailer/package-lock.json
	installed=tests/bench/nodemailer/node_modules/.package-lock.json
	if [ ! -f "$installed" ] || [ "$lock" -nt "$installed" ]; then
		say "installing nodemailer from the npm registry (npm ci)"
		(cd tests/bench/nodemailer && npm ci --no-audit --no-fund --loglevel=error) ||
			die "npm ci failed in tests/bench/nodemailer"
	fi
fi

# the project
if [ ! -f "$build_dir/meson-private/coredata.dat" ]; then
	meson setup "$build_dir" >/dev/null || die "meson setup $build_dir failed"
fi
ninja -C "$build_dir" >/dev/null || die "the build failed (ninja -C $build_dir)"
[ -x "$build_dir/service/mail-senderd" ] || die "no $build_dir/service/mail-senderd after the build"

tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/mail-sender-bench.XXXXXX")
bench_pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	# bench.py stops the sink, the daemon and the clients it started when it gets SIGTERM
	if [ -f "$tmp/bench.pid" ] && kill -TERM "$(cat "$tmp/bench.pid")" 2>/dev/null; then
		for _ in $(seq 50); do
			kill -0 "$(cat "$tmp/bench.pid")" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null; then
		wait "$bench_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the test certificates: built by meson with the tests; generated here when tests are off
certs=$(cd "$build_dir/tests" 2>/dev/null && pwd) || certs=$build_dir/tests
if [ ! -f "$certs/server-chain.pem" ] || [ ! -f "$certs/server-key.pem" ] ||
	[ ! -f "$certs/ca.pem" ]; then
	certs=$tmp/certs
	tests/files/make-certs.sh "$certs" >/dev/null || die "cannot generate test certificates"
fi

# the D-Bus client, in C so that the client is not what limits the daemon
# shellcheck disable=SC2046 # pkg-config's output is a list of words
cc -O2 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 -DGLIB_VERSION_MAX_ALLOWED=GLIB_VERSION_2_74 \
	-I"$build_dir" -o "$tmp/bench-daemon" tests/bench/bench-daemon.c \
	$(pkg-config --cflags --libs gio-2.0) || die "cannot compile tests/bench/bench-daemon.c"

# on a private session bus that goes away with the benchmark; dbus-daemon's complaint that it
# may not raise its fd limit (as root in a container) is only noise. The inner shell writes
# its PID (bench.py's, after exec) for cleanup().
# shellcheck disable=SC2016 # $$ and $@ are for the inner shell
dbus-run-session -- /bin/sh -c 'echo $$ >"$0/bench.pid"; exec "$@"' "$tmp" \
	/usr/bin/python3 tests/bench/bench.py \
	--build-dir "$build_dir" \
	--certs-dir "$certs" \
	--workdir "$tmp" \
	--bench-daemon "$tmp/bench-daemon" \
	--msmtp "$(command -v msmtp || echo msmtp)" \
	--rounds "${BENCH_ROUNDS:-3}" \
	--messages "${BENCH_MESSAGES:-1000}" \
	--msmtp-messages "${BENCH_MSMTP_MESSAGES:-100}" \
	--latency-messages "${BENCH_LATENCY_MESSAGES:-50}" \
	--max-connections "${BENCH_MAX_CONNECTIONS:-5}" \
	--window "${BENCH_WINDOW:-1}" \
	--modes "${BENCH_MODES:-plain starttls implicit-tls}" \
	--contenders "$contenders" \
	2> >(grep --line-buffered -v 'Failed to set fd limit' >&2) &
bench_pid=$!
rc=0
wait "$bench_pid" || rc=$?
bench_pid=""
rm -f "$tmp/bench.pid"
exit "$rc"
