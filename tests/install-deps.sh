#!/bin/sh
# tests/install-deps.sh [--ci]
#
# Installs the Debian 12 packages needed to build and test mail-sender, but only those that
# are missing: when everything is there it asks dpkg and returns at once (no apt-get at all).
#   --ci   also the tools of the CI: clang + libFuzzer runtime, valgrind, clang-format
# Needs root only when something has to be installed.
set -eu

packages="gcc pkg-config meson ninja-build gettext libglib2.0-dev libglib2.0-bin libsecret-1-dev
libgnutls28-dev glib-networking gnutls-bin dbus gnome-keyring libsecret-tools python3-aiosmtpd
libjson-glib-dev libxml2-utils"
ci_packages="clang libclang-rt-14-dev valgrind clang-format git"

for arg in "$@"; do
	case $arg in
	--ci) packages="$packages $ci_packages" ;;
	-h | --help)
		echo "usage: $0 [--ci]"
		exit 0
		;;
	*)
		echo "install-deps.sh: unknown argument '$arg' (usage: $0 [--ci])" >&2
		exit 2
		;;
	esac
done

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: these Debian packages are missing:$missing" >&2
	echo "install-deps.sh: run this script as root, or: sudo apt-get install$missing" >&2
	exit 1
fi

echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # the list is meant to be split into words
apt-get install -y -q $missing </dev/null
