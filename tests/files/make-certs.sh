#!/bin/sh
# make-certs.sh DIR
# (copy of the verified recipe make-test-certs.sh; run by meson at build time, see tests/meson.build)
# Generates throwaway TLS material for tests with GnuTLS certtool (apt: gnutls-bin):
#   ca.pem / ca-key.pem                  test CA (the only thing a client should trust)
#   server.pem / server-key.pem          CN=localhost, SAN: DNS localhost, IP 127.0.0.1, IP ::1 (signed by the CA)
#   server-chain.pem                     server.pem + ca.pem
#   server-combined.pem                  server.pem + server-key.pem (for g_tls_certificate_new_from_file)
#   expired.pem / expired-key.pem        like server.pem but valid 2020-01-01..2020-12-31 (signed by the CA)
#   wronghost.pem / wronghost-key.pem    CN/SAN wrong.example.invalid only (signed by the CA)
#   selfsigned.pem / selfsigned-key.pem  localhost/127.0.0.1 but self-signed (not signed by the CA)
# Nothing here is secret; never use it outside tests.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
command -v certtool >/dev/null || { echo "certtool missing: apt-get install gnutls-bin" >&2; exit 1; }
out=$1
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# certtool is chatty on stderr; show it only when it fails. --no-text: plain PEM files.
ct() { certtool --no-text "$@" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; }
key() { ct --generate-privkey --key-type=rsa --bits=2048 --outfile "$1"; }

cat > "$tmp/ca.tmpl" <<'T'
cn = "Mail Sender Test CA"
organization = "mail-sender tests"
serial = 1
expiration_days = 3650
ca
cert_signing_key
crl_signing_key
T
key ca-key.pem
ct --generate-self-signed --load-privkey ca-key.pem --template "$tmp/ca.tmpl" --outfile ca.pem

# leaf NAME SERIAL CN SANS... [-- extra template lines]
leaf() {
    name=$1 serial=$2 cn=$3; shift 3
    {
        echo "cn = \"$cn\""
        echo "organization = \"mail-sender tests\""
        echo "serial = $serial"
        echo "tls_www_server"
        echo "encryption_key"
        echo "signing_key"
        for l in "$@"; do echo "$l"; done
    } > "$tmp/$name.tmpl"
    key "$name-key.pem"
}
sign() { ct --generate-certificate --load-privkey "$1-key.pem" --load-ca-certificate ca.pem \
             --load-ca-privkey ca-key.pem --template "$tmp/$1.tmpl" --outfile "$1.pem"; }

leaf server 2 localhost 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'ip_address = "::1"' 'expiration_days = 3650'
sign server
leaf expired 3 localhost 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'ip_address = "::1"' \
    'activation_date = "2020-01-01 00:00:00 UTC"' 'expiration_date = "2020-12-31 23:59:59 UTC"'
sign expired
leaf wronghost 4 wrong.example.invalid 'dns_name = "wrong.example.invalid"' 'expiration_days = 3650'
sign wronghost
leaf selfsigned 5 localhost 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'ip_address = "::1"' 'expiration_days = 3650'
ct --generate-self-signed --load-privkey selfsigned-key.pem --template "$tmp/selfsigned.tmpl" \
    --outfile selfsigned.pem

cat server.pem ca.pem > server-chain.pem
cat server.pem server-key.pem > server-combined.pem
chmod 600 ./*-key.pem server-combined.pem
echo "test certificates written to $out"
