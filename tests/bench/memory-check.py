#!/usr/bin/python3
"""Checks what the test SMTP server stored in tests/bench/memory.sh's run, parsed with the
email package as a mail client would: exactly one "memory-1k" message whose text body is the
one sent, and exactly one "memory-big" (Send) and one "memory-raw" (SendRawFd) message whose
big.bin attachment decodes to the bytes of the file sent. Prints what it found; exit status 1 if anything differs.

usage: memory-check.py MAILDIR SMALL_BODY BIG_FILE
"""
import email
import email.policy
import glob
import hashlib
import os
import sys


def main(maildir, small_body, big_path):
    with open(big_path, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    want_size = os.path.getsize(big_path)
    errors = []
    found = {}
    for path in glob.glob(os.path.join(maildir, "*.eml")):
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        found.setdefault(str(msg["subject"]), []).append(msg)

    small = found.get("memory-1k", [])
    if len(small) != 1:
        errors.append(f"{len(small)} copies of the 1 KiB message arrived, not 1")
    else:
        body = small[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
        if body.rstrip("\n") != small_body:
            errors.append(f"the 1 KiB message's body arrived changed: {body!r}")
        else:
            print(f"the 1 KiB message arrived complete: {len(body.encode())} bytes of text")

    for subject, what in (("memory-big", "Send"), ("memory-raw", "SendRawFd")):
        big = found.get(subject, [])
        if len(big) != 1:
            errors.append(f"{len(big)} copies of the {what} attachment message arrived, not 1")
            continue
        parts = [p for p in big[0].iter_attachments() if p.get_filename() == "big.bin"]
        data = parts[0].get_payload(decode=True) if len(parts) == 1 else b""
        got = hashlib.sha256(data).hexdigest()
        if len(parts) != 1:
            errors.append(f"{what}: {len(parts)} attachments named big.bin arrived, not 1")
        elif got != want:
            errors.append(f"{what}: big.bin arrived with {len(data)} bytes, SHA-256 {got} "
                          f"(sent: {want_size} bytes, SHA-256 {want})")
        else:
            print(f"{what}: big.bin arrived complete: {len(data)} bytes, SHA-256 {got}")

    for e in errors:
        print(f"MEMORY CHECK FAILED: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
