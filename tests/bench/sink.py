#!/usr/bin/python3
"""A fast SMTP sink for the benchmark: it accepts everything and keeps nothing.

  sink.py [--mode plain|starttls|implicit-tls] [--port 0] [--cert F --key F]

Listens on 127.0.0.1 only (--port 0, the default, picks a free port) and prints
"READY <port>" on stdout once it accepts connections. It answers every command at once,
advertises PIPELINING, 8BITMIME and SIZE (and STARTTLS in starttls mode), and handles
pipelined commands: every complete command line in a read is answered, in order, in one
write. Nothing is written to disk; messages are only counted.

Modes:
  plain         no TLS
  starttls      STARTTLS offered and required: MAIL before STARTTLS gets 530, so a
                contender that silently skipped TLS fails the run instead of looking fast
  implicit-tls  TLS from the first byte (port 465 style)
--cert is the certificate chain (server first), --key its private key.

Counts: messages (DATA accepted with 250), recipients (accepted RCPTs of those messages),
bytes (the message bytes between DATA and the final dot, as received: CRLF line ends,
dot-stuffed), connections, tls (completed TLS handshakes) and errors (protocol errors: 5xx
answers to a client, aborted DATA). SIGUSR1 prints "COUNTS key=value ..." on stdout;
SIGTERM or SIGINT prints "FINAL key=value ..." and exits 0.

Only the Python standard library (Debian's python3); PyPI is not needed.
"""
import argparse
import asyncio
import signal
import ssl
import sys

MAX_LINE = 4096  # RFC 5321 allows 512 for commands; anything longer is garbage
MAX_SIZE = 52428800
COUNTER_NAMES = ("messages", "recipients", "bytes", "connections", "tls", "errors")


class Counters:
    def __init__(self):
        for name in COUNTER_NAMES:
            setattr(self, name, 0)

    def line(self, label):
        fields = " ".join(f"{name}={getattr(self, name)}" for name in COUNTER_NAMES)
        return f"{label} {fields}"


class Session(asyncio.Protocol):
    """One SMTP connection: a byte buffer, a command state and a DATA state."""

    def __init__(self, server):
        self.server = server
        self.transport = None
        self.buf = bytearray()
        self.tls = False
        self.greeted = False
        self.mail_from = None
        self.rcpts = 0
        self.in_data = False
        self.scan = 0  # where the search for the end of DATA resumes
        self.upgrading = False
        self.closing = False

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport
        self.server.counters.connections += 1
        if self.server.mode == "implicit-tls":
            self.tls = True
            self.server.counters.tls += 1
        transport.write(b"220 sink.localhost ESMTP benchmark sink\r\n")

    def data_received(self, data):
        if self.closing:
            return
        self.buf += data
        if self.upgrading:
            # with TLS 1.3 the client's EHLO may arrive with its Finished, before upgrade()
            # resumes: keep it for then
            return
        out = []
        self.process(out)
        if out:
            self.transport.write(b"".join(out))
        if self.closing:
            self.transport.close()
        elif self.upgrading:
            asyncio.ensure_future(self.upgrade())

    def connection_lost(self, exc):
        if self.in_data:
            self.server.counters.errors += 1

    # SMTP

    def reset(self):
        self.mail_from = None
        self.rcpts = 0

    def error(self, out, reply):
        self.server.counters.errors += 1
        out.append(reply)

    def process(self, out):
        while not self.closing and not self.upgrading:
            if self.in_data:
                if not self.process_data(out):
                    return
                continue
            end = self.buf.find(b"\n")
            if end < 0:
                if len(self.buf) > MAX_LINE:
                    self.error(out, b"500 5.5.2 Line too long\r\n")
                    self.closing = True
                return
            line = bytes(self.buf[:end]).rstrip(b"\r")
            del self.buf[: end + 1]
            self.command(line, out)

    def process_data(self, out):
        """Consumes message bytes up to the final dot; False when more input is needed."""
        if self.buf.startswith(b".\r\n"):
            content_len, consumed = 0, 3
        else:
            end = self.buf.find(b"\r\n.\r\n", self.scan)
            if end < 0:
                self.scan = max(0, len(self.buf) - 4)
                return False
            content_len, consumed = end + 2, end + 5
        del self.buf[:consumed]
        self.in_data = False
        self.scan = 0
        counters = self.server.counters
        counters.messages += 1
        counters.recipients += self.rcpts
        counters.bytes += content_len
        out.append(b"250 2.0.0 Ok: queued as S%d\r\n" % counters.messages)
        self.reset()
        return True

    def command(self, line, out):
        verb, _, arg = line.partition(b" ")
        verb = verb.upper()
        if verb == b"EHLO":
            self.greeted = True
            self.reset()
            lines = [b"sink.localhost", b"PIPELINING", b"8BITMIME", b"SIZE %d" % MAX_SIZE]
            if self.server.mode == "starttls" and not self.tls:
                lines.append(b"STARTTLS")
            reply = b"".join(b"250-%s\r\n" % item for item in lines[:-1])
            out.append(reply + b"250 %s\r\n" % lines[-1])
        elif verb == b"HELO":
            self.greeted = True
            self.reset()
            out.append(b"250 sink.localhost\r\n")
        elif verb == b"STARTTLS":
            if self.server.mode != "starttls" or self.tls:
                self.error(out, b"503 5.5.1 TLS not available now\r\n")
            elif self.buf:
                # RFC 3207: nothing may follow STARTTLS before the handshake
                self.error(out, b"554 5.5.1 Data after STARTTLS\r\n")
                self.closing = True
            else:
                out.append(b"220 2.0.0 Ready to start TLS\r\n")
                self.upgrading = True
        elif verb == b"MAIL":
            if not self.greeted:
                self.error(out, b"503 5.5.1 EHLO first\r\n")
            elif self.server.mode == "starttls" and not self.tls:
                self.error(out, b"530 5.7.0 Must issue a STARTTLS command first\r\n")
            elif self.mail_from is not None:
                self.error(out, b"503 5.5.1 Nested MAIL command\r\n")
            elif not arg.upper().startswith(b"FROM:"):
                self.error(out, b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
            else:
                self.mail_from = arg[5:]
                out.append(b"250 2.1.0 Ok\r\n")
        elif verb == b"RCPT":
            if self.mail_from is None:
                self.error(out, b"503 5.5.1 MAIL first\r\n")
            elif not arg.upper().startswith(b"TO:"):
                self.error(out, b"501 5.5.4 Syntax: RCPT TO:<address>\r\n")
            else:
                self.rcpts += 1
                out.append(b"250 2.1.5 Ok\r\n")
        elif verb == b"DATA":
            if self.rcpts == 0:
                # also the answer to a pipelined DATA after refused RCPTs (RFC 2920)
                self.error(out, b"503 5.5.1 No valid recipients\r\n")
            else:
                self.in_data = True
                self.scan = 0
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"RSET":
            self.reset()
            out.append(b"250 2.0.0 Ok\r\n")
        elif verb == b"NOOP":
            out.append(b"250 2.0.0 Ok\r\n")
        elif verb == b"QUIT":
            out.append(b"221 2.0.0 Bye\r\n")
            self.closing = True
        else:
            self.error(out, b"502 5.5.2 Command not implemented\r\n")

    async def upgrade(self):
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self.transport, self, self.server.ssl_context,
                                             server_side=True, ssl_handshake_timeout=10)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as e:
            print(f"sink: STARTTLS handshake failed: {e}", file=sys.stderr)
            self.server.counters.errors += 1
            self.transport.close()
            return
        if transport is None:
            return
        self.transport = transport
        self.tls = True
        self.server.counters.tls += 1
        self.greeted = False  # RFC 3207: the client starts over with EHLO
        self.reset()
        self.upgrading = False
        self.data_received(b"")


class Sink:
    def __init__(self, mode, ssl_context):
        self.mode = mode
        self.ssl_context = ssl_context
        self.counters = Counters()

    def report(self, label):
        sys.stdout.write(self.counters.line(label) + "\n")
        sys.stdout.flush()


async def serve(args):
    ssl_context = None
    if args.mode != "plain":
        if args.cert is None or args.key is None:
            sys.exit(f"sink: --mode {args.mode} needs --cert and --key")
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.cert, args.key)
    sink = Sink(args.mode, ssl_context)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Session(sink), "127.0.0.1", args.port, backlog=512,
        ssl=ssl_context if args.mode == "implicit-tls" else None,
        ssl_handshake_timeout=10 if args.mode == "implicit-tls" else None)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, sink.report, "COUNTS")
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await stop
    server.close()
    sink.report("FINAL")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("plain", "starttls", "implicit-tls"), default="plain")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", help="certificate chain (PEM, server certificate first)")
    parser.add_argument("--key", help="private key (PEM)")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
