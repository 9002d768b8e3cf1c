#!/bin/sh
# system-bus-session.sh [--policy FILE]... [--permissive] [--] COMMAND [ARGS...]
#
# Runs COMMAND with DBUS_SYSTEM_BUS_ADDRESS pointing at a private dbus-daemon on a unix
# socket in a temporary directory, so "system bus mode" can be tested without the real
# system bus (which need not even run). The bus applies the real system bus's default-deny
# policy (copied from /usr/share/dbus-1/system.conf) plus each --policy FILE, e.g. the
# project's org.mail.Sender.conf destined for /usr/share/dbus-1/system.d/.
# --permissive allows everything instead (own any name, call anything).
# DBUS_SESSION_BUS_ADDRESS is left as it is. Exit status is COMMAND's.
# Package: dbus (dbus-daemon).
set -eu
policies='' permissive=no
while [ $# -gt 0 ]; do
    case $1 in
        --policy) policies="$policies
  <include>$(realpath "$2")</include>"; shift 2 ;;
        --permissive) permissive=yes; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--policy FILE]... [--permissive] [--] COMMAND [ARGS...]" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/system-bus.XXXXXX")
# like /run/dbus: tests switch callers to unprivileged users (setpriv), and they must reach the
# socket; nothing in here is secret
chmod 0755 "$tmp"
bus=
cleanup() {
    if [ -n "$bus" ] && kill "$bus" 2>/dev/null; then wait "$bus" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ $permissive = yes ]; then
    policy='<allow user="*"/>
    <allow own="*"/> <allow send_type="method_call"/> <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/> <allow receive_type="method_return"/>
    <allow receive_type="error"/> <allow receive_type="signal"/>'
else
    policy='<allow user="*"/>
    <deny own="*"/> <deny send_type="method_call"/> <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/> <allow receive_type="method_return"/>
    <allow receive_type="error"/> <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>'
fi
# <allow user="*"/>: as in system.conf, every user may connect; without it only the bus's own
# uid may, which the recipe's copy missed.
# NB: no double hyphen inside XML comments in bus config files, dbus-daemon rejects them.
cat > "$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    $policy
  </policy>$policies
</busconfig>
EOF
dbus-daemon --config-file="$tmp/bus.conf" --nofork --print-address=3 3>"$tmp/address" 2>"$tmp/bus.log" &
bus=$!
i=0
until [ -s "$tmp/address" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$bus" 2>/dev/null; then
        echo "system-bus-session: dbus-daemon did not start:" >&2; cat "$tmp/bus.log" >&2; exit 1
    fi
    sleep 0.05
done
DBUS_SYSTEM_BUS_ADDRESS=$(head -n 1 "$tmp/address")
export DBUS_SYSTEM_BUS_ADDRESS
rc=0
"$@" || rc=$?
exit $rc
