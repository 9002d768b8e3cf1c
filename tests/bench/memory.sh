#!/bin/bash
# tests/bench/memory.sh
#
# The memory requirement of issue 4: the daemon's peak memory must not grow with the message.
# Sends a 1 KiB text message, then a 50 MiB attachment passed as a file descriptor (Send), then
# the same attachment in a complete raw message passed as a file descriptor (SendRawFd), each
# through a fresh build-tree mail-senderd on a private session bus to the plain test SMTP
# server (tests/smtp-test-server.py). Once the job is Sent it reads the daemon's peak resident
# set (VmHWM in /proc/PID/status), then stops the daemon with SIGTERM. It prints the peaks
# and how much each large message added to the small one's.
#
# Exit status: 0 if the difference is under the limit and both messages arrived complete
# (the text body, and the SHA-256 of the decoded attachment, checked with Python's email
# package by memory-check.py); 1 if not; 2 if something could not be set up. A run takes
# about 10 s; every wait is bounded (at most 60 s for a job), and the daemon, the SMTP server
# and the private bus are stopped and the scratch directory removed however the script ends.
#
# The pieces: memory-client.c (one Send call with the attachment as an fd, then waits for
# Sent; compiled here with cc and pkg-config) and memory-check.py. Needs the build's
# dependencies (tests/install-deps.sh), python3-aiosmtpd and dbus-run-session.
#
# Environment (all optional):
#   BUILD_DIR         meson build directory (default "build"; set up and built if needed)
#   MEMORY_LIMIT_KIB  the largest allowed difference, exclusive (default 8192: 8 MiB)
#   MEMORY_SIZE_MIB   the attachment's size (default 50)
#   MEMORY_TMPDIR     where the scratch directory goes (default /var/tmp: on disk, where
#                     /tmp may be a tmpfs)
set -eu

cd "$(dirname "$0")/../.."
export BUILD_DIR=${BUILD_DIR:-build}
export MEMORY_LIMIT_KIB=${MEMORY_LIMIT_KIB:-8192}
export MEMORY_SIZE_MIB=${MEMORY_SIZE_MIB:-50}

say() { echo "memory: $*" >&2; }
die() {
	say "$*"
	exit 2
}

# the daemon's peak resident set in KiB, from the kernel
vm_hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# stops our child $1 with SIGTERM (SIGKILL after 5 s), sets stop_status to its exit status;
# not in a subshell: only the shell that started a process can wait for it
stop_process() {
	local pid=$1
	stop_status=0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || stop_status=$?
}

# the processes the part on the private bus started (global: its EXIT trap runs after it
# returned), and the last measure's peak
server_pid=""
daemon_pid=""
child_pid=""
peak=""

# runs a command in the background and waits for it: a shell waiting for a foreground command
# runs its traps only when that command has ended, but wait is interrupted by them
run_child() {
	local status=0
	"$@" &
	child_pid=$!
	wait "$child_pid" || status=$?
	child_pid=""
	return "$status"
}

# the part that runs on the private bus: $1 is the scratch directory
on_private_bus() {
	local tmp=$1 port="" small="" big="" raw="" diff="" diff_raw="" small_body=""

	# shellcheck disable=SC2317 # called by the trap
	stop_all() {
		[ -z "$child_pid" ] || stop_process "$child_pid"
		[ -z "$daemon_pid" ] || stop_process "$daemon_pid"
		[ -z "$server_pid" ] || stop_process "$server_pid"
	}
	trap stop_all EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	tests/smtp-test-server.py --mode plain --host 127.0.0.1 --port 0 \
		--maildir "$tmp/maildir" --size-limit 200000000 --ready-file "$tmp/port" \
		>"$tmp/server.log" 2>&1 </dev/null &
	server_pid=$!
	for _ in $(seq 100); do
		[ -s "$tmp/port" ] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$tmp/port" ] || die "the test SMTP server did not start: $(cat "$tmp/server.log")"
	port=$(cat "$tmp/port")

	cat >"$tmp/accounts.conf" <<-EOF
		[account default]
		host=127.0.0.1
		port=$port
		security=none
		from=Memory <memory-sender@example.test>
		helo-name=memory.example.test
	EOF

	# one fresh daemon per message, so that VmHWM is the peak of that message alone.
	# $1: a name, then the memory-client arguments; sets peak (KiB)
	measure() {
		local name=$1
		shift
		mkdir -p "$tmp/xdg-$name"
		XDG_CONFIG_HOME=$tmp/xdg-$name XDG_STATE_HOME=$tmp/xdg-$name \
			XDG_CACHE_HOME=$tmp/xdg-$name G_MESSAGES_DEBUG='' \
			"$BUILD_DIR/service/mail-senderd" --session --config "$tmp/accounts.conf" \
			--spool-dir "$tmp/spool-$name" >"$tmp/daemon-$name.log" 2>&1 </dev/null &
		daemon_pid=$!
		run_child gdbus wait --session --timeout 10 org.mail.Sender ||
			die "mail-senderd did not take org.mail.Sender: $(tail -5 "$tmp/daemon-$name.log")"
		if ! run_child "$tmp/memory-client" --timeout 60 "$@" >"$tmp/client-$name.log" 2>&1; then
			say "$name: the job did not end in Sent: $(cat "$tmp/client-$name.log")"
			say "last lines of the daemon's log: $(tail -5 "$tmp/daemon-$name.log")"
			exit 1
		fi
		peak=$(vm_hwm "$daemon_pid")
		stop_process "$daemon_pid"
		daemon_pid=""
		[ "$stop_status" = 0 ] ||
			say "WARNING: mail-senderd exited with status $stop_status on SIGTERM"
	}

	small_body=$(/usr/bin/python3 -c 'print("\n".join("line %02d " % i + "x" * 55 for i in range(16)))')
	measure small --to bob@example.test --subject memory-1k --body "$small_body"
	small=$peak
	measure big --to bob@example.test --subject memory-big --body "see attachment" \
		--attach "$tmp/big.bin"
	big=$peak
	diff=$((big - small))
	measure raw --raw "$tmp/raw.eml"
	raw=$peak
	diff_raw=$((raw - small))

	echo "1 KiB message:            daemon peak RSS (VmHWM) $small KiB"
	echo "$MEMORY_SIZE_MIB MiB attachment (fd):   daemon peak RSS (VmHWM) $big KiB"
	echo "difference:               $diff KiB (limit: under $MEMORY_LIMIT_KIB KiB)"
	echo "the same as SendRawFd:    daemon peak RSS (VmHWM) $raw KiB"
	echo "difference:               $diff_raw KiB (limit: under $MEMORY_LIMIT_KIB KiB)"

	# what arrived, parsed as a mail client would
	run_child tests/bench/memory-check.py "$tmp/maildir" "$small_body" "$tmp/big.bin" || exit 1
	if [ "$diff" -ge "$MEMORY_LIMIT_KIB" ] || [ "$diff_raw" -ge "$MEMORY_LIMIT_KIB" ]; then
		echo "MEMORY CHECK FAILED: the peak grew by $diff KiB with the attachment and" \
			"by $diff_raw KiB with the raw message (limit: under $MEMORY_LIMIT_KIB KiB)"
		exit 1
	fi
	echo "memory check passed"
}

if [ "${1:-}" = "--on-private-bus" ]; then
	on_private_bus "$2"
	exit 0
fi

# the project
tests/install-deps.sh || exit 2
if [ ! -f "$BUILD_DIR/meson-private/coredata.dat" ]; then
	meson setup "$BUILD_DIR" >/dev/null || die "meson setup $BUILD_DIR failed"
fi
ninja -C "$BUILD_DIR" >/dev/null || die "the build failed (ninja -C $BUILD_DIR)"
[ -x "$BUILD_DIR/service/mail-senderd" ] || die "no $BUILD_DIR/service/mail-senderd after the build"

tmp=$(mktemp -d "${MEMORY_TMPDIR:-/var/tmp}/mail-sender-memory.XXXXXX")
inner_pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	# the inner script stops the daemon and the SMTP server it started when it gets SIGTERM
	if [ -f "$tmp/inner.pid" ] && kill -TERM "$(cat "$tmp/inner.pid")" 2>/dev/null; then
		for _ in $(seq 50); do
			kill -0 "$(cat "$tmp/inner.pid")" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if [ -n "$inner_pid" ]; then
		kill -TERM "$inner_pid" 2>/dev/null || true
		wait "$inner_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck disable=SC2046 # pkg-config's output is a list of words
cc -O2 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 -DGLIB_VERSION_MAX_ALLOWED=GLIB_VERSION_2_74 \
	-o "$tmp/memory-client" tests/bench/memory-client.c \
	$(pkg-config --cflags --libs gio-2.0 gio-unix-2.0) ||
	die "cannot compile tests/bench/memory-client.c"
head -c "$((MEMORY_SIZE_MIB * 1024 * 1024))" /dev/urandom >"$tmp/big.bin"
# the raw message: big.bin as a base64 attachment, with LF line ends as scripts write them
/usr/bin/python3 - "$tmp/big.bin" "$tmp/raw.eml" <<'PY'
import base64, sys
data = open(sys.argv[1], "rb").read()
b64 = base64.encodebytes(data)
with open(sys.argv[2], "wb") as f:
    f.write(b"From: Memory <memory-sender@example.test>\nTo: bob@example.test\n"
            b"Subject: memory-raw\nMIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"b\"\n\n"
            b"--b\nContent-Type: text/plain\n\nsee attachment\n"
            b"--b\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=\"big.bin\"\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64 + b"--b--\n")
PY

# on a private session bus that goes away with the script; dbus-daemon's complaint that it may
# not raise its fd limit (as root in a container) is only noise. The inner shell writes its
# PID (this script's, after exec) for cleanup().
# shellcheck disable=SC2016 # $$ and $@ are for the inner shell
dbus-run-session -- /bin/sh -c 'echo $$ >"$0/inner.pid"; exec "$@"' "$tmp" \
	/bin/bash "$0" --on-private-bus "$tmp" \
	2> >(grep --line-buffered -v 'Failed to set fd limit' >&2) &
inner_pid=$!
rc=0
wait "$inner_pid" || rc=$?
inner_pid=""
rm -f "$tmp/inner.pid"
exit "$rc"
