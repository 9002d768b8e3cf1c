#!/usr/bin/python3
"""The Python-driven contenders of the benchmark.

  smtp-clients.py smtplib|msmtp --port P --mode plain|starttls|implicit-tls --ca CA.pem
                  [--messages N] [--size BYTES] [--workdir DIR]

smtplib  Python's smtplib on one connection, reused for every message (EHLO, STARTTLS or
         implicit TLS once, then MAIL/RCPT/DATA per message, lock-step; smtplib does not
         pipeline), QUIT at the end.
msmtp    one `msmtp` process per message, the message on stdin, as cron, smartd and other
         sendmail callers use it; each process makes its own connection and TLS handshake.

Both send the same message as bench-daemon: a ~2 KiB ASCII text/plain body, one recipient.
The clock runs from the first connection (or process) to the last reply. Prints
"RESULT contender=... mode=... messages=N seconds=S rate=R" and exits non-zero if any message
was refused. Only the Python standard library.
"""
import argparse
import email.utils
import os
import smtplib
import ssl
import subprocess
import sys
import time

SENDER = "bench-sender@example.test"
RECIPIENT = "bench@example.test"


def make_body(size):
    """The same text as bench-daemon's body: lines of 64 octets (LF) up to size bytes."""
    lines, length, i = [], 0, 0
    while length < size:
        line = f"line {i:03d}: the quick brown fox jumps over the lazy dog"
        lines.append(f"{line:<63.63}\n")
        length += 64
        i += 1
    return "".join(lines)


def make_message(n, body):
    """A complete RFC 5322 message with LF line ends, like a script would pipe to sendmail."""
    return (f"Date: {email.utils.formatdate(localtime=True)}\n"
            f"Message-ID: {email.utils.make_msgid(domain='bench.example.test')}\n"
            f"From: Bench <{SENDER}>\n"
            f"To: {RECIPIENT}\n"
            f"Subject: benchmark message {n}\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n"
            "Content-Transfer-Encoding: 7bit\n"
            "\n" + body)


def run_smtplib(args, body):
    context = ssl.create_default_context(cafile=args.ca)
    start = time.monotonic()
    if args.mode == "implicit-tls":
        smtp = smtplib.SMTP_SSL("127.0.0.1", args.port, context=context, timeout=30)
    else:
        smtp = smtplib.SMTP("127.0.0.1", args.port, timeout=30)
    smtp.ehlo("bench.example.test")
    if args.mode == "starttls":
        smtp.starttls(context=context)
        smtp.ehlo("bench.example.test")
    for n in range(1, args.messages + 1):
        message = make_message(n, body).replace("\n", "\r\n").encode("ascii")
        refused = smtp.sendmail(SENDER, [RECIPIENT], message)
        if refused:
            sys.exit(f"smtp-clients: smtplib: recipients refused: {refused}")
    smtp.quit()
    return time.monotonic() - start


def run_msmtp(args, body):
    conf = os.path.join(args.workdir, f"msmtprc-{args.mode}")
    tls = {"plain": ("off", "off"), "starttls": ("on", "on"), "implicit-tls": ("on", "off")}
    tls_on, starttls = tls[args.mode]
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("defaults\n"
                "auth off\n"
                "syslog off\n"
                f"tls {tls_on}\n"
                f"tls_starttls {starttls}\n"
                f"tls_trust_file {args.ca}\n"
                "account bench\n"
                "host 127.0.0.1\n"
                f"port {args.port}\n"
                "domain bench.example.test\n"
                f"from {SENDER}\n"
                "account default : bench\n")
    messages = [make_message(n, body).encode("ascii") for n in range(1, args.messages + 1)]
    start = time.monotonic()
    for message in messages:
        proc = subprocess.run([args.msmtp, "-C", conf, "--", RECIPIENT], input=message,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            sys.exit(f"smtp-clients: msmtp exited with status {proc.returncode}: "
                     f"{proc.stdout.decode(errors='replace').strip()}")
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contender", choices=("smtplib", "msmtp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("plain", "starttls", "implicit-tls"), required=True)
    parser.add_argument("--ca", required=True, help="the CA that signed the sink's certificate")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=2048, help="body size in bytes")
    parser.add_argument("--workdir", default=".", help="where msmtp's config file goes")
    parser.add_argument("--msmtp", default="msmtp", help="the msmtp program")
    args = parser.parse_args()

    body = make_body(args.size)
    run = run_smtplib if args.contender == "smtplib" else run_msmtp
    try:
        seconds = run(args, body)
    except (OSError, smtplib.SMTPException) as e:
        sys.exit(f"smtp-clients: {args.contender}: {e}")
    print(f"RESULT contender={args.contender} mode={args.mode} messages={args.messages} "
          f"seconds={seconds:.3f} rate={args.messages / seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
