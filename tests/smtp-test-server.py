#!/usr/bin/python3
"""SMTP server for tests, loopback only (Debian: apt-get install python3-aiosmtpd).

Well-behaved modes (real SMTP via aiosmtpd):
  plain             no TLS at all
  starttls          STARTTLS offered, optional                      (needs --cert/--key)
  require-starttls  530 to everything but EHLO/HELO/NOOP/RSET/QUIT/STARTTLS before TLS
  implicit-tls      TLS from the first byte, like port 465          (needs --cert/--key)
Misbehaving modes (a tiny hand-written SMTP dialogue):
  stall-starttls    offers STARTTLS, answers "220 Ready to start TLS", then never handshakes
  greet-421         greets with "421 4.3.2 Service not available" and closes
  drop-in-data      normal dialogue (STARTTLS offered when --cert/--key are given, AUTH accepts
                    anything when --auth is given), answers DATA with 354, reads one line of
                    the message and then aborts the connection without a reply
  tls-only-silent   TLS from the first byte (same server as implicit-tls): a client that waits
                    for a plaintext greeting gets nothing
  silent            accepts TCP connections and never says a word
  starttls-inject   offers STARTTLS and answers it with "220 2.0.0 Ready to start TLS" and
                    "250 injected" in the same write, then does the TLS handshake (RFC 3207
                    section 6: a client must not act on the injected line; needs --cert/--key)
  no-ehlo           answers EHLO with "502 5.5.2 Command not implemented" and HELO with 250,
                    then accepts MAIL/RCPT/DATA and stores the message like the good modes do
                    ("ehlo_or_helo": "HELO"), for HELO fallback tests
  long-line         greets with "220 " and then an endless line: 64 MiB of "x" without a line
                    end, written as fast as the client reads (a client must give up, not
                    buffer it)

--fail-first N greets the first N connections with "421 4.3.2 <host> Service not available,
closing channel" and closes them; later connections behave normally (retry tests).
--drop-first N (good modes) cuts off the first N DATA transfers: DATA gets its 354, the server
reads the first 64 KiB of the message (or all of it, if it is shorter) and then aborts the
connection without a reply, as drop-in-data does; later transfers are accepted normally. Send
a message longer than 64 KiB to have it cut off mid-transfer (retry tests: nothing is stored
for a dropped transfer, so a stored message came over a later one).
--temp-fail-rcpt ADDR answers RCPT TO:<ADDR> with "451 4.3.0 Temporary failure (test)".
A wrong password with --auth gets "535 5.7.8 Authentication credentials invalid" (aiosmtpd),
so there is no separate flag for rejecting AUTH: give the client other credentials.

--pipelining advertises PIPELINING (RFC 2920) in the EHLO reply (aiosmtpd reads commands in
order from one buffer, so it handles pipelined commands anyway; it just does not say so).
--no-8bitmime leaves 8BITMIME out of the EHLO reply (a server that takes 7-bit mail only);
--smtputf8 advertises SMTPUTF8 (RFC 6531) and accepts UTF-8 addresses; without it aiosmtpd
refuses them.
--timeout S closes a connection idle for S seconds, without a word (as aiosmtpd does).

--auth USER:PASS requires AUTH with exactly these credentials before MAIL (for XOAUTH2, PASS
is the access token). As in aiosmtpd, AUTH is only offered on an encrypted connection (after
STARTTLS, or with implicit TLS) unless --auth-plaintext is given.
--auth-mechanisms LIST (good modes) offers these mechanisms, comma-separated, in this order, in
the EHLO reply, and only these are accepted; any of PLAIN, LOGIN, CRAM-MD5 (RFC 2195),
SCRAM-SHA-256 (RFC 5802/7677, no channel binding) and XOAUTH2. The default is what aiosmtpd
offers by itself, "AUTH LOGIN PLAIN", so the others are opt-in. Every mechanism checks the
--auth credentials for real; a failure gets the same 535 as PLAIN. SCRAM sends its
server-final in a 334 challenge and answers the client's empty line with 235; a client that
refuses the server signature cancels with "*" (501, not authenticated). A bad XOAUTH2 token
gets what Gmail sends: 334 with a base64 JSON error, then, after the client's empty line, 535.
--scram-iterations N sets the SCRAM iteration count (default 4096; not range-checked, so a
test can offer a client a hostile count, which the client must refuse: if it goes on, the
server computes that count as well); --scram-bad-signature makes the server-final carry
a wrong server signature (the server pretends not to know the password: the client must
refuse it and send no mail).

Every accepted message is stored in --maildir as <stamp>.eml (the bytes received after
DATA, dot-unstuffed, CRLF line ends) and <stamp>.json (envelope, HELO name, AUTH login,
TLS version, "ehlo_or_helo": "EHLO" or "HELO", "auth_mechanism" ("PLAIN", "LOGIN", "CRAM-MD5",
"SCRAM-SHA-256", "XOAUTH2"), "connection": the number of
the connection it came over (1 for the first one the server accepted, STARTTLS keeps it),
"pipelined": whether RCPT TO was already waiting when MAIL FROM was answered, "rsets": RSET
commands seen on that connection before). The .json is written
before the .eml and both are renamed into place, so a test that sees a .eml can read both.

Prints "READY <mode> <host> <port>" on stdout once listening (--port 0 picks a free port;
--ready-file also gets the port). Stops cleanly on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import signal
import ssl
import stringprep
import sys
import time
import unicodedata
import warnings

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, auth_mechanism

GOOD_MODES = ("plain", "starttls", "require-starttls", "implicit-tls")
FAULT_MODES = ("stall-starttls", "greet-421", "drop-in-data", "tls-only-silent", "silent",
               "starttls-inject", "no-ehlo", "long-line")
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "XOAUTH2")
DEFAULT_AUTH_MECHANISMS = ("LOGIN", "PLAIN")      # what aiosmtpd offers by itself
log = logging.getLogger("smtp-test-server")


class Store:
    """Stores accepted messages in --maildir; shared by aiosmtpd's handler and no-ehlo."""

    def __init__(self, maildir):
        self.maildir, self.count = maildir, 0

    def store(self, content, meta):
        """Writes <id>.json, then <id>.eml (both atomically); returns the queue id."""
        self.count += 1
        qid = f"{time.time_ns()}-{os.getpid()}-{self.count:04d}"
        if self.maildir:
            meta = dict(id=qid, **meta, size=len(content))
            write_atomic(os.path.join(self.maildir, qid + ".json"),
                         (json.dumps(meta, indent=1) + "\n").encode())
            write_atomic(os.path.join(self.maildir, qid + ".eml"), content)
        log.info("accepted %s from=%s to=%s", qid, meta.get("mail_from"), meta.get("rcpt_tos"))
        return qid


def rcpt_refusal(args, address):
    """The reply for a --reject-rcpt / --temp-fail-rcpt address, None for any other."""
    if address.lower() in {r.lower() for r in args.reject_rcpt}:
        return f"550 5.1.1 <{address}>: Recipient address rejected (test)"
    if address.lower() in {r.lower() for r in args.temp_fail_rcpt}:
        return "451 4.3.0 Temporary failure (test)"
    return None


class Recorder:
    """aiosmtpd handler: refuses --reject-rcpt/--temp-fail-rcpt addresses, stores messages."""

    def __init__(self, args, store):
        self.args, self.store, self.auth = args, store, bool(args.auth)
        user, _, password = (args.auth or "").partition(":")
        self.user, self.password = user.encode(), password

    def login_result(self, server, mechanism, login, ok):
        """The AuthResult of one of our mechanisms; logs and records it like the authenticator
        of PLAIN/LOGIN does (a failure becomes aiosmtpd's 535)."""
        server.session.ms_auth_mechanism = mechanism
        log.info("AUTH %s login=%r -> %s", mechanism, login.decode("utf-8", "replace"),
                 "ok" if ok else "FAIL")
        return AuthResult(success=ok, handled=False,
                          auth_data=LoginPassword(login, b"") if ok else None)

    @staticmethod
    async def initial_response(server, args):
        """The client's first message: the initial response, or the answer to an empty 334;
        None when aiosmtpd or we have already answered (501)."""
        if len(args) == 1:
            blob = await server.challenge_auth("")
            return None if blob is MISSING else blob
        try:
            return base64.b64decode(args[1], validate=True)
        except binascii.Error:
            await server.push("501 5.5.2 Can't decode base64")
            return None

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server, args):
        # RFC 2195: no initial response; the challenge is a unique msg-id-like string
        if len(args) > 1:
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{secrets.randbelow(10**9)}.{time.time_ns()}@{server.hostname}>".encode()
        response = await server.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=True)
        login, _, digest = response.rpartition(b" ")
        expected = hmac.new(self.password.encode(), challenge, "md5").hexdigest().encode()
        ok = login == self.user and hmac.compare_digest(digest, expected)
        return self.login_result(server, "CRAM-MD5", login, ok)

    @auth_mechanism("XOAUTH2")
    async def auth_XOAUTH2(self, server, args):
        blob = await self.initial_response(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        # "user=" user ^A "auth=Bearer " token ^A ^A
        fields = blob.split(b"\x01")
        if len(fields) != 4 or fields[2:] != [b"", b""] or not fields[0].startswith(b"user=") \
                or not fields[1].startswith(b"auth=Bearer "):
            await server.push("501 5.5.2 Malformed XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        login, token = fields[0][len(b"user="):], fields[1][len(b"auth=Bearer "):]
        ok = login == self.user and hmac.compare_digest(token, self.password.encode())
        if not ok:
            # as Gmail: the error as a base64 JSON challenge, the client's empty answer, 535
            error = json.dumps({"status": "401", "schemes": "Bearer",
                                "scope": "https://mail.google.com/"})
            if await server.challenge_auth(error) is MISSING:
                return AuthResult(success=False, handled=True)
        return self.login_result(server, "XOAUTH2", login, ok)

    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, server, args):
        async def malformed(what):
            await server.push(f"501 5.5.2 Malformed SCRAM {what}")
            return AuthResult(success=False, handled=True)

        blob = await self.initial_response(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        # client-first: gs2-header ("n,," or "y,,", maybe with "a=authzid") client-first-bare
        try:
            cbind, authzid, bare = blob.decode("utf-8").split(",", 2)
        except (UnicodeDecodeError, ValueError):
            return await malformed("client-first message")
        if cbind.startswith("p="):
            await server.push("504 5.5.4 SCRAM channel binding is not supported")
            return AuthResult(success=False, handled=True)
        attrs = bare.split(",")
        if cbind not in ("n", "y") or (authzid and not authzid.startswith("a=")) \
                or len(attrs) < 2 or not attrs[0].startswith("n=") \
                or not attrs[1].startswith("r=") or len(attrs[1]) < 3:
            return await malformed("client-first message")
        login = attrs[0][2:].replace("=2C", ",").replace("=3D", "=").encode()
        nonce = attrs[1][2:] + base64.b64encode(secrets.token_bytes(18)).decode()
        salt = secrets.token_bytes(16)
        server_first = (f"r={nonce},s={base64.b64encode(salt).decode()},"
                        f"i={self.args.scram_iterations}")
        blob = await server.challenge_auth(server_first)
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        # client-final: "c=" base64(gs2-header) ",r=" nonce ",p=" proof
        try:
            without_proof, _, proof = blob.decode("ascii").rpartition(",p=")
            proof = base64.b64decode(proof, validate=True)
        except (UnicodeDecodeError, binascii.Error):
            return await malformed("client-final message")
        gs2_header = base64.b64encode(f"{cbind},{authzid},".encode()).decode()
        if without_proof.split(",")[:2] != [f"c={gs2_header}", f"r={nonce}"]:
            return await malformed("client-final message (channel binding or nonce)")
        if self.args.scram_iterations < 1:
            return self.login_result(server, "SCRAM-SHA-256", login, False)
        # RFC 5802 section 3, with the password prepared as the client does
        salted = hashlib.pbkdf2_hmac("sha256", saslprep(self.password).encode(), salt,
                                     self.args.scram_iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        client_signature = hmac.digest(stored_key, auth_message, "sha256")
        ok = login == self.user and len(proof) == len(client_signature) and hmac.compare_digest(
            hashlib.sha256(bytes(a ^ b for a, b in zip(proof, client_signature))).digest(),
            stored_key)
        if ok:
            server_key = hmac.digest(salted, b"Server Key", "sha256")
            signature = hmac.digest(server_key, auth_message, "sha256")
            if self.args.scram_bad_signature:
                signature = bytes([signature[0] ^ 1]) + signature[1:]
            # RFC 4954 has no data on 235: the server-final goes in a 334, the client says ""
            if await server.challenge_auth("v=" + base64.b64encode(signature).decode()) \
                    is MISSING:
                log.info("AUTH SCRAM-SHA-256 login=%r: the client refused the server-final",
                         login.decode("utf-8", "replace"))
                return AuthResult(success=False, handled=True)
        return self.login_result(server, "SCRAM-SHA-256", login, ok)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        session.ms_greeting = "EHLO"
        # aiosmtpd offers AUTH on every TLS connection; hide it when no --auth was given
        if not self.auth:
            responses = [r for r in responses if not r.startswith("250-AUTH")]
        elif self.args.auth_mechanisms:
            # aiosmtpd sorts them; keep the order given, so a test can check the client's choice
            responses = ["250-AUTH " + " ".join(self.args.auth_mechanisms)
                         if r.startswith("250-AUTH") else r for r in responses]
        if self.args.pipelining:
            responses.insert(-1, "250-PIPELINING")
        if self.args.no_8bitmime:
            responses = [r for r in responses if r[4:] != "8BITMIME"]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # with this hook aiosmtpd leaves the envelope and the reply to us; a pipelining
        # client has sent RCPT TO before this reply, so it already waits in the buffer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.ms_pipelined = len(server._reader._buffer) > 0
        return "250 OK"

    async def handle_RSET(self, server, session, envelope):
        server.ms_rsets = getattr(server, "ms_rsets", 0) + 1
        return "250 OK"

    async def handle_HELO(self, server, session, envelope, hostname):
        # with this hook aiosmtpd leaves setting host_name and the reply to us
        session.host_name = hostname
        session.ms_greeting = "HELO"
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = rcpt_refusal(self.args, address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        tls = server.transport.get_extra_info("ssl_object") if server.transport else None
        auth = session.auth_data if isinstance(session.auth_data, LoginPassword) else None
        qid = self.store.store(envelope.original_content, {
            "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options, "rcpt_options": envelope.rcpt_options,
            "helo": session.host_name, "peer": list(session.peer or ()),
            "auth_login": auth.login.decode("utf-8", "replace") if auth else None,
            "tls_version": tls.version() if tls else None,
            "ehlo_or_helo": getattr(session, "ms_greeting", None),
            "auth_mechanism": getattr(session, "ms_auth_mechanism", None) if auth else None,
            "connection": getattr(server, "ms_connection", None),
            "pipelined": getattr(envelope, "ms_pipelined", False),
            "rsets": getattr(server, "ms_rsets", 0),
        })
        return f"250 2.0.0 OK queued as {qid}"


class Greet421(asyncio.Protocol):
    """What the first --fail-first connections get in the good modes."""

    def __init__(self, host):
        self.host = host

    def connection_made(self, transport):
        log.info("--fail-first: greeting with 421 and closing")
        transport.write(f"421 4.3.2 {self.host} Service not available, closing channel\r\n"
                        .encode())
        transport.close()                             # flushes the write first


DROP_AFTER = 64 * 1024   # --drop-first: bytes of the message read before the connection is cut


class DroppingSMTP(SMTP):
    """aiosmtpd's SMTP, cutting off the first --drop-first DATA transfers mid-message."""

    def __init__(self, handler, drop_first, **kw):
        super().__init__(handler, **kw)
        self.ms_drop_first = drop_first

    async def smtp_DATA(self, arg):
        # a DATA that aiosmtpd would refuse (no RCPT yet: so no HELO, no MAIL, no AUTH either;
        # an argument) is left to it, and does not count as a transfer
        if not self.envelope.rcpt_tos or arg or not self.ms_drop_first.refuse():
            return await super().smtp_DATA(arg)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received, tail, whole = 0, b"", False
        while received < DROP_AFTER and not whole:
            chunk = await self._reader.read(DROP_AFTER - received)
            if not chunk:
                break
            received, tail = received + len(chunk), (tail + chunk)[-5:]
            whole = tail.endswith(b"\r\n.\r\n") or tail == b".\r\n"
        log.info("--drop-first: DATA cut off after %d bytes of the message%s", received,
                 " (the whole message was there)" if whole else "")
        self.transport.abort()
        # connection_lost() follows from the event loop and cancels this handler: wait for
        # that instead of going on reading the rest of the message as commands
        await asyncio.Event().wait()


class FailFirst:
    """Counts connections; the first N calls of refuse() say yes (--fail-first connections,
    --drop-first DATA transfers)."""

    def __init__(self, n):
        self.left, self.connections = n, 0

    def refuse(self):
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword) and data.login == user.encode()
              and data.password == password.encode())
        session.ms_auth_mechanism = mechanism
        log.info("AUTH %s login=%r -> %s", mechanism,
                 getattr(data, "login", b"?").decode("utf-8", "replace"), "ok" if ok else "FAIL")
        # handled=False + success=False makes aiosmtpd answer "535 5.7.8 ... invalid"
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)
    return authenticate


def saslprep(text):
    """RFC 4013 mapping and NFKC, as far as the C client goes (ms-sasl.c), so both agree."""
    text = "".join(" " if stringprep.in_table_c12(c) else c
                   for c in text if not stringprep.in_table_b1(c))
    return unicodedata.normalize("NFKC", text)


def addr_arg(text):
    """The address in "FROM:<a@b> SIZE=1" / "TO:<a@b>", and the parameters after it."""
    _, _, rest = text.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        addr, _, params = rest[1:].partition(">")
    else:
        addr, _, params = rest.partition(" ")
    return addr, params.split()


async def read_data(reader):
    """Reads DATA up to the lone dot; returns the dot-unstuffed bytes (as aiosmtpd does)."""
    lines = []
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b".\r\n":
            return b"".join(lines)
        lines.append(line[1:] if line.startswith(b".") else line)


async def fault_session(args, ctx, store, fail_first, reader, writer):
    """Hand-written SMTP dialogue for the misbehaving modes."""
    mode, host = args.mode, args.hostname

    async def send(*lines):
        writer.write(b"".join(line.encode() + b"\r\n" for line in lines))
        await writer.drain()

    fail_first.connections += 1
    connection = fail_first.connections
    try:
        if mode == "silent":
            await reader.read()                      # wait until the client gives up
            return
        if mode == "long-line":
            writer.write(b"220 ")
            chunk = b"x" * 65536
            for _ in range(1024):                    # 64 MiB, never a line end
                writer.write(chunk)
                await writer.drain()                 # blocks while the client does not read
            log.info("long-line: the client read 64 MiB of one line")
            await reader.read()
            return
        if mode == "greet-421" or fail_first.refuse():
            await send(f"421 4.3.2 {host} Service not available, closing channel")
            return
        await send(f"220 {host} ESMTP test server ({mode})")
        tls = False
        helo, mail_from, mail_options, rcpt_tos, rcpt_options = None, None, [], [], []
        while line := await reader.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb == "EHLO" and mode == "no-ehlo":
                await send("502 5.5.2 Command not implemented")
            elif verb == "EHLO":
                ext = ["8BITMIME"]
                if not tls and (mode in ("stall-starttls", "starttls-inject") or ctx):
                    ext.append("STARTTLS")
                if args.auth:
                    ext.append("AUTH PLAIN LOGIN")
                if args.pipelining:
                    ext.append("PIPELINING")
                await send(f"250-{host}", *[f"250-{e}" for e in ext], "250 HELP")
            elif verb == "HELO":
                helo, mail_from, rcpt_tos = arg.strip(), None, []
                await send(f"250 {host}")
            elif verb == "STARTTLS" and mode == "no-ehlo":
                await send("502 5.5.2 Command not implemented")
            elif verb == "STARTTLS" and mode != "stall-starttls" and (tls or not ctx):
                await send("454 4.7.0 TLS not available")
            elif verb == "STARTTLS" and mode == "starttls-inject":
                # one write, so the client finds the injected reply in its buffer behind the 220
                log.info("STARTTLS: injecting a plaintext reply behind the 220")
                writer.write(b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n")
                await writer.drain()
                await writer.start_tls(ctx)          # Python >= 3.11
                tls = True
            elif verb == "STARTTLS":
                await send("220 2.0.0 Ready to start TLS")
                if mode == "stall-starttls":
                    log.info("STARTTLS: stalling, never doing the handshake")
                    await reader.read()              # swallow the ClientHello, say nothing
                    return
                await writer.start_tls(ctx)          # Python >= 3.11
                tls = True
            elif verb == "AUTH" and mode == "no-ehlo":
                await send("502 5.5.2 Command not implemented")
            elif mode == "no-ehlo" and verb in ("MAIL", "RCPT", "DATA") and helo is None:
                await send("503 5.5.1 Error: send HELO first")
            elif mode == "no-ehlo" and verb == "MAIL":
                mail_from, mail_options = addr_arg(arg)
                rcpt_tos, rcpt_options = [], []
                await send("250 2.1.0 OK")
            elif mode == "no-ehlo" and verb == "RCPT" and mail_from is None:
                await send("503 5.5.1 Error: need MAIL command")
            elif mode == "no-ehlo" and verb == "RCPT":
                address, params = addr_arg(arg)
                refusal = rcpt_refusal(args, address)
                if refusal is None:
                    rcpt_tos.append(address)
                    rcpt_options.extend(params)
                await send(refusal or "250 2.1.5 OK")
            elif mode == "no-ehlo" and verb == "DATA" and not rcpt_tos:
                await send("503 5.5.1 Error: need RCPT command")
            elif mode == "no-ehlo" and verb == "DATA":
                await send("354 End data with <CR><LF>.<CR><LF>")
                content = await read_data(reader)
                qid = store.store(content, {
                    "mail_from": mail_from, "rcpt_tos": rcpt_tos,
                    "mail_options": mail_options, "rcpt_options": rcpt_options,
                    "helo": helo, "peer": list(writer.get_extra_info("peername") or ()),
                    "auth_login": None, "tls_version": None,
                    "ehlo_or_helo": "HELO", "auth_mechanism": None,
                    "connection": connection, "pipelined": False, "rsets": 0,
                })
                mail_from, mail_options, rcpt_tos, rcpt_options = None, [], [], []
                await send(f"250 2.0.0 OK queued as {qid}")
            elif mode == "no-ehlo" and verb == "RSET":
                mail_from, mail_options, rcpt_tos, rcpt_options = None, [], [], []
                await send("250 2.0.0 OK")
            elif verb == "AUTH":
                parts = line.split()
                if parts[1:2] == [b"LOGIN"]:
                    await send("334 VXNlcm5hbWU6")
                    await reader.readline()
                    await send("334 UGFzc3dvcmQ6")
                    await reader.readline()
                elif len(parts) < 3:
                    await send("334 ")
                    await reader.readline()
                await send("235 2.7.0 Authentication successful")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                await send("250 2.0.0 OK")
            elif verb == "DATA":
                await send("354 End data with <CR><LF>.<CR><LF>")
                if mode == "drop-in-data":
                    await reader.readline()
                    log.info("DATA: dropping the connection mid-message")
                    writer.transport.abort()
                    return
            elif verb == "QUIT":
                await send("221 2.0.0 Bye")
                return
            else:
                await send("502 5.5.2 Command not implemented")
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError) as e:
        log.info("connection ended: %r", e)
    finally:
        writer.close()


async def main(args):
    needs_cert = args.mode in ("starttls", "require-starttls", "implicit-tls", "tls-only-silent",
                               "starttls-inject")
    if needs_cert and not (args.cert and args.key):
        sys.exit(f"--mode {args.mode} needs --cert and --key")
    ctx = None
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
    if args.maildir:
        os.makedirs(args.maildir, exist_ok=True)
    user, _, password = (args.auth or "").partition(":")
    implicit = args.mode in ("implicit-tls", "tls-only-silent")
    loop = asyncio.get_running_loop()
    store = Store(args.maildir)
    fail_first = FailFirst(args.fail_first)
    drop_first = FailFirst(args.drop_first)

    if args.mode in GOOD_MODES or args.mode == "tls-only-silent":
        kw = dict(hostname=args.hostname, ident="mail-sender test SMTP", timeout=args.timeout,
                  data_size_limit=args.size_limit, enable_SMTPUTF8=args.smtputf8)
        if args.mode in ("starttls", "require-starttls"):
            kw.update(tls_context=ctx, require_starttls=args.mode == "require-starttls")
        if args.auth:
            # aiosmtpd only counts STARTTLS as "TLS": with implicit TLS it would refuse AUTH
            # unless auth_require_tls=False (the connection is encrypted anyway).
            offered = args.auth_mechanisms or DEFAULT_AUTH_MECHANISMS
            kw.update(authenticator=make_authenticator(user, password), auth_required=True,
                      auth_require_tls=not (implicit or args.auth_plaintext),
                      auth_exclude_mechanism=[m for m in AUTH_MECHANISMS if m not in offered])
        handler = Recorder(args, store)

        def protocol():
            fail_first.connections += 1
            if fail_first.refuse():
                return Greet421(args.hostname)
            smtp = DroppingSMTP(handler, drop_first, **kw)
            smtp.ms_connection = fail_first.connections
            return smtp
        server = await loop.create_server(protocol, args.host, args.port,
                                          ssl=ctx if implicit else None)
    else:
        server = await asyncio.start_server(
            lambda r, w: fault_session(args, ctx, store, fail_first, r, w), args.host, args.port)
    # handlers first: a test may send SIGTERM as soon as it has seen READY
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = server.sockets[0].getsockname()[1]
    if args.ready_file:
        write_atomic(args.ready_file, f"{port}\n".encode())
    print(f"READY {args.mode} {args.host} {port}", flush=True)
    await stop.wait()
    server.close()
    log.info("stopped")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    p.add_argument("--mode", choices=GOOD_MODES + FAULT_MODES, default="plain")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=10025, help="0 = any free port (default 10025)")
    p.add_argument("--hostname", default="smtp.test.localhost", help="name in greeting/EHLO")
    p.add_argument("--cert", help="PEM server certificate (chain)")
    p.add_argument("--key", help="PEM private key")
    p.add_argument("--auth", metavar="USER:PASS", help="require AUTH with these")
    p.add_argument("--auth-mechanisms", metavar="LIST",
                   type=lambda text: [m.strip().upper() for m in text.split(",")],
                   help="offer only these AUTH mechanisms, in this order (comma-separated; "
                   "default LOGIN,PLAIN; also CRAM-MD5, SCRAM-SHA-256, XOAUTH2)")
    p.add_argument("--scram-iterations", type=int, default=4096, metavar="N",
                   help="SCRAM iteration count offered to the client (default 4096)")
    p.add_argument("--scram-bad-signature", action="store_true",
                   help="send a wrong SCRAM server signature (a server not knowing the password)")
    p.add_argument("--auth-plaintext", action="store_true", help="offer AUTH without TLS too")
    p.add_argument("--maildir", help="directory to store accepted messages in")
    p.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR",
                   help="answer RCPT TO:<ADDR> with 550 (repeatable)")
    p.add_argument("--temp-fail-rcpt", action="append", default=[], metavar="ADDR",
                   help="answer RCPT TO:<ADDR> with 451 (repeatable)")
    p.add_argument("--fail-first", type=int, default=0, metavar="N",
                   help="greet the first N connections with 421 and close them")
    p.add_argument("--drop-first", type=int, default=0, metavar="N",
                   help="cut off the first N DATA transfers mid-message, without a reply "
                   "(good modes)")
    p.add_argument("--size-limit", type=int, default=10 * 1024 * 1024, help="SIZE, bytes")
    p.add_argument("--timeout", type=float, default=60, help="idle timeout, seconds")
    p.add_argument("--pipelining", action="store_true", help="advertise PIPELINING in EHLO")
    p.add_argument("--no-8bitmime", action="store_true",
                   help="do not advertise 8BITMIME in EHLO (good modes)")
    p.add_argument("--smtputf8", action="store_true",
                   help="advertise SMTPUTF8 and take UTF-8 addresses (good modes)")
    p.add_argument("--ready-file", help="write the listening port to this file when ready")
    p.add_argument("-v", "--verbose", action="store_true", help="log the SMTP dialogue")
    args = p.parse_args(argv)
    if not ipaddress.ip_address(args.host).is_loopback:
        p.error("--host must be a loopback address (127.0.0.0/8 or ::1)")
    if args.drop_first and args.mode not in GOOD_MODES:
        p.error("--drop-first works in the good modes only (" + ", ".join(GOOD_MODES) + ")")
    if args.auth and ":" not in args.auth:
        p.error("--auth wants USER:PASS")
    if args.auth_mechanisms is not None:
        unknown = [m for m in args.auth_mechanisms if m not in AUTH_MECHANISMS]
        if unknown or len(set(args.auth_mechanisms)) != len(args.auth_mechanisms):
            p.error(f"--auth-mechanisms wants distinct names of {', '.join(AUTH_MECHANISMS)}")
        if not args.auth:
            p.error("--auth-mechanisms needs --auth")
    return args


if __name__ == "__main__":
    a = parse_args()
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not a.verbose:   # aiosmtpd is chatty (one INFO line per event) and warns about
        logging.getLogger("mail.log").setLevel(logging.ERROR)   # auth_require_tls=False
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    asyncio.run(main(a))
