#!/bin/bash
# tests/demo.sh
#
# The demo of the README: installs the missing Debian packages, builds, then on a private
# D-Bus session bus starts a local test SMTP server (plain SMTP on 127.0.0.1) and the daemon
# from the build tree, sends one message with `gdbus call`, shows the daemon's signals as
# they arrive and prints the message the server received.
# Environment: BUILD_DIR (default "build").
set -eu

cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

if [ -z "${MS_DEMO_ON_PRIVATE_BUS:-}" ]; then
	tests/install-deps.sh
	if [ ! -f "$build_dir/meson-private/coredata.dat" ]; then
		meson setup "$build_dir"
	fi
	ninja -C "$build_dir"
	echo
	# the rest runs on a private session bus that goes away with it; dbus-daemon's
	# complaint that it may not raise its fd limit (as root in a container) is only noise
	MS_DEMO_ON_PRIVATE_BUS=1 exec dbus-run-session -- "$0" "$@" \
		2> >(grep --line-buffered -v 'Failed to set fd limit' >&2)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mail-sender-demo.XXXXXX")
server_pid=""
daemon_pid=""
monitor_pid=""

stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	if kill -TERM "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
	fi
}
cleanup() {
	stop "$monitor_pid"
	stop "$daemon_pid"
	stop "$server_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "demo: $*" >&2
	if [ -s "$tmp/daemon.log" ]; then
		echo "--- daemon log ---" >&2
		cat "$tmp/daemon.log" >&2
	fi
	if [ -s "$tmp/server.log" ]; then
		echo "--- SMTP server log ---" >&2
		cat "$tmp/server.log" >&2
	fi
	exit 1
}

# 1. a local SMTP server (aiosmtpd) that stores what it receives in $tmp/mail
mkdir -p "$tmp/mail"
tests/smtp-test-server.py --mode plain --host 127.0.0.1 --port 0 --maildir "$tmp/mail" \
	>"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!
port=""
for _ in $(seq 100); do
	read -r ready _ _ port <"$tmp/server.out" || true
	[ "${ready:-}" = READY ] && break
	port=""
	kill -0 "$server_pid" 2>/dev/null || fail "the test SMTP server did not start"
	sleep 0.1
done
[ -n "$port" ] || fail "the test SMTP server did not report its port"
echo "SMTP test server listening on 127.0.0.1:$port"

# 2. an accounts file pointing the default account at it
cat >"$tmp/accounts.conf" <<EOF
[account default]
host=127.0.0.1
port=$port
security=none
from=Demo <demo@example.test>
EOF
echo "--- $tmp/accounts.conf ---"
cat "$tmp/accounts.conf"
echo

# 3. the daemon from the build tree
"$build_dir/service/mail-senderd" --session --verbose --config "$tmp/accounts.conf" \
	--spool-dir "$tmp/spool" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
has_owner() {
	gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
		--method org.freedesktop.DBus.NameHasOwner "$1" 2>/dev/null | grep -q true
}
for _ in $(seq 100); do
	has_owner org.mail.Sender && break
	kill -0 "$daemon_pid" 2>/dev/null || fail "mail-senderd exited"
	sleep 0.1
done
has_owner org.mail.Sender || fail "mail-senderd did not take the name org.mail.Sender"
echo "mail-senderd is running and owns org.mail.Sender"

# 4. watch its signals (every line of gdbus monitor that starts with an object path); the
# monitor has subscribed once it reports the name's owner
gdbus monitor --session --dest org.mail.Sender \
	> >(tee "$tmp/monitor.log" | sed -u -n 's|^/|signal: /|p') 2>&1 &
monitor_pid=$!
for _ in $(seq 50); do
	grep -q "is owned by" "$tmp/monitor.log" 2>/dev/null && break
	sleep 0.1
done

# 5. send a message
message="{'to': <['alice@example.test']>, 'subject': <'Hello from org.mail.Sender'>, 'body': <'It works.'>}"
echo
echo "\$ gdbus call --session --dest org.mail.Sender --object-path /org/mail/Sender" \
	"--method org.mail.Sender.Send \"$message\" \"{}\""
gdbus call --session --dest org.mail.Sender --object-path /org/mail/Sender \
	--method org.mail.Sender.Send "$message" "{}" || fail "Send failed"

# 6. wait for the server to store it, and for the Sent (or Failed) signal
eml=""
for _ in $(seq 200); do
	eml=$(find "$tmp/mail" -name '*.eml' | head -n 1)
	[ -n "$eml" ] && break
	grep -q "org.mail.Sender.Failed" "$tmp/monitor.log" && break
	sleep 0.1
done
for _ in $(seq 50); do
	grep -q -e "org.mail.Sender.Sent" -e "org.mail.Sender.Failed" "$tmp/monitor.log" && break
	sleep 0.1
done
sleep 0.2
[ -n "$eml" ] || fail "no message arrived at the SMTP server within 20 s"

job=$(grep -o -m 1 "/org/mail/Sender/Job/[A-Za-z0-9_]*" "$tmp/monitor.log" || true)
if [ -n "$job" ]; then
	echo
	echo "\$ gdbus call --session --dest org.mail.Sender --object-path $job" \
		"--method org.freedesktop.DBus.Properties.GetAll org.mail.Sender.Job"
	gdbus call --session --dest org.mail.Sender --object-path "$job" \
		--method org.freedesktop.DBus.Properties.GetAll org.mail.Sender.Job || true
fi

echo
echo "--- delivered message ---"
tr -d '\r' <"$eml"
echo "--- envelope ---"
cat "${eml%.eml}.json"
echo
echo "demo: the message was delivered"
