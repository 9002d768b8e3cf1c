#!/usr/bin/python3
"""Runs the benchmark rounds and prints the table; started by tests/bench/run.sh.

Must run on a private session bus (run.sh uses dbus-run-session). For every round, mode and
contender it starts a fresh sink (sink.py), and for org.mail.Sender a fresh mail-senderd with
an empty spool on disk, runs the contender, stops the sink and checks that it counted exactly
the messages and recipients that were sent: anything else stops the benchmark with an error.
Every process it starts is stopped again, also on an error or Ctrl-C.
"""
import argparse
import datetime
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("plain", "starttls", "implicit-tls")
SECURITY = {"plain": "none", "starttls": "starttls", "implicit-tls": "tls"}
CONTENDERS = ("daemon-1", "daemon-8", "daemon-latency", "msmtp", "smtplib", "nodemailer")
LABELS = {
    "daemon-1": "org.mail.Sender, 1 client",
    "daemon-8": "org.mail.Sender, 8 clients",
    "msmtp": "msmtp, 1 process per message",
    "smtplib": "Python smtplib, 1 connection",
    "nodemailer": "nodemailer, pool of 5",
}


class BenchError(Exception):
    pass


class Processes:
    """Every process the benchmark started, so that all of them can be stopped."""

    def __init__(self):
        self.running = []

    def start(self, argv, **kwargs):
        proc = subprocess.Popen(argv, **kwargs)  # pylint: disable=consider-using-with
        self.running.append(proc)
        return proc

    def stop(self, proc, timeout=10):
        """SIGTERM, then SIGKILL after timeout seconds; returns the exit status."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.running:
            self.running.remove(proc)
        return proc.returncode

    def stop_all(self):
        for proc in list(reversed(self.running)):
            self.stop(proc, timeout=5)


def parse_result(text):
    """The key=value fields of the last "RESULT ..." line of a contender's output."""
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return None
    return dict(field.split("=", 1) for field in lines[-1].split()[1:])


class Bench:
    def __init__(self, args):
        self.args = args
        self.procs = Processes()
        self.work = args.workdir
        self.ca = os.path.join(args.certs_dir, "ca.pem")
        self.daemon = os.path.join(args.build_dir, "service", "mail-senderd")
        self.results = {}  # (contender, mode) → list of dicts, one per round
        self.runs = 0

    # the sink

    def start_sink(self, mode):
        argv = [sys.executable, os.path.join(HERE, "sink.py"), "--mode", mode,
                "--cert", os.path.join(self.args.certs_dir, "server-chain.pem"),
                "--key", os.path.join(self.args.certs_dir, "server-key.pem")]
        log = open(os.path.join(self.work, "sink.log"), "ab")  # pylint: disable=consider-using-with
        sink = self.procs.start(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        ready, _, _ = select.select([sink.stdout], [], [], 10)
        line = sink.stdout.readline().decode() if ready else ""
        match = re.fullmatch(r"READY (\d+)\n", line)
        if match is None:
            self.procs.stop(sink)
            raise BenchError(f"the sink did not start (said {line!r}); see {self.work}/sink.log")
        return sink, int(match.group(1))

    def stop_sink(self, sink):
        """Stops the sink and returns its final counts."""
        sink.send_signal(signal.SIGTERM)
        try:
            out, _ = sink.communicate(timeout=10)
        finally:
            self.procs.stop(sink)
        for line in out.decode().splitlines():
            if line.startswith("FINAL "):
                return {k: int(v) for k, v in (f.split("=", 1) for f in line.split()[1:])}
        raise BenchError(f"the sink printed no counts; see {self.work}/sink.log")

    # the contenders

    def run_client(self, argv, timeout, env=None):
        """Runs a contender to completion; returns its RESULT fields."""
        proc = self.procs.start(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"{argv[0]} did not finish within {timeout} s") from e
        finally:
            self.procs.stop(proc)
        text = out.decode(errors="replace")
        result = parse_result(text)
        if proc.returncode != 0 or result is None:
            raise BenchError(f"{' '.join(argv)} exited with status {proc.returncode}:\n{text}")
        return result

    def run_daemon(self, contender, mode, port, messages):
        run_dir = os.path.join(self.work, f"run-{self.runs}")
        os.makedirs(os.path.join(run_dir, "xdg"))
        conf = os.path.join(run_dir, "accounts.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("[account default]\n"
                    "host=127.0.0.1\n"
                    f"port={port}\n"
                    f"security={SECURITY[mode]}\n"
                    f"ca-file={self.ca}\n"
                    "from=Bench <bench-sender@example.test>\n"
                    "helo-name=bench.example.test\n"
                    f"max-connections={self.args.max_connections}\n")
        spool = os.path.join(run_dir, "spool")
        env = dict(os.environ,
                   XDG_CONFIG_HOME=os.path.join(run_dir, "xdg"),
                   XDG_STATE_HOME=os.path.join(run_dir, "xdg"),
                   XDG_CACHE_HOME=os.path.join(run_dir, "xdg"))
        env.pop("G_MESSAGES_DEBUG", None)
        log_path = os.path.join(self.work, "daemon.log")
        with open(log_path, "ab") as log:
            log.write(f"=== {contender} {mode} (run {self.runs})\n".encode())
            log.flush()
            daemon = self.procs.start([self.daemon, "--session", "--config", conf,
                                       "--spool-dir", spool],
                                      stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        argv = [self.args.bench_daemon, "--pid", str(daemon.pid), "--timeout",
                str(self.args.timeout)]
        if contender == "daemon-latency":
            argv += ["--sequential", "--messages", str(messages)]
        else:
            argv += ["--messages", str(messages), "--window", str(self.args.window),
                     "--clients", "8" if contender == "daemon-8" else "1"]
        try:
            result = self.run_client(argv, self.args.timeout + 30)
        except BenchError as e:
            raise BenchError(f"{e}\nlast lines of {log_path}:\n{tail(log_path)}") from None
        finally:
            status = self.procs.stop(daemon)
        if status != 0:
            print(f"WARNING: mail-senderd exited with status {status} on SIGTERM "
                  f"(see {log_path})", flush=True)
        leftover = [os.path.join(d, f) for d, _, files in os.walk(spool) for f in files]
        if leftover:
            print(f"WARNING: {len(leftover)} file(s) left in the spool after every job was "
                  f"Sent, e.g. {leftover[0]}", flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        return result

    def run_one(self, contender, mode, rnd):
        self.runs += 1
        if contender in ("msmtp",):
            messages = self.args.msmtp_messages
        elif contender == "daemon-latency":
            messages = self.args.latency_messages
        else:
            messages = self.args.messages
        sink, port = self.start_sink(mode)
        try:
            if contender.startswith("daemon-"):
                result = self.run_daemon(contender, mode, port, messages)
            elif contender == "nodemailer":
                result = self.run_client(
                    ["node", os.path.join(HERE, "nodemailer", "bench.js"), "--port", str(port),
                     "--mode", mode, "--ca", self.ca, "--messages", str(messages),
                     "--max-connections", "5"], self.args.timeout)
            else:
                result = self.run_client(
                    [sys.executable, os.path.join(HERE, "smtp-clients.py"), contender,
                     "--port", str(port), "--mode", mode, "--ca", self.ca,
                     "--messages", str(messages), "--workdir", self.work,
                     "--msmtp", self.args.msmtp], self.args.timeout)
        finally:
            counts = self.stop_sink(sink)
        if counts["messages"] != messages or counts["recipients"] != messages:
            raise BenchError(
                f"MESSAGES LOST OR DUPLICATED: {contender} ({mode}, round {rnd}) sent {messages} "
                f"messages to 1 recipient each, the sink received {counts['messages']} messages "
                f"for {counts['recipients']} recipients")
        if mode != "plain" and counts["tls"] != counts["connections"]:
            raise BenchError(f"{contender} ({mode}): only {counts['tls']} of "
                             f"{counts['connections']} connections used TLS")
        result["connections"] = counts["connections"]
        result["bytes"] = counts["bytes"]
        self.results.setdefault((contender, mode), []).append(result)
        detail = ""
        if contender == "daemon-latency":
            detail = f" median Send→Sent {float(result['latency_median_ms']):.2f} ms"
        else:
            detail = f" {float(result['rate']):.1f} msg/s"
        if contender.startswith("daemon-"):
            detail += f", peak RSS {int(result['vmhwm_kib']) / 1024:.1f} MiB"
            if contender != "daemon-latency":
                detail += f", Send accepted {float(result['accept_rate']):.1f}/s"
        print(f"  round {rnd} {mode:<12} {contender:<15} {messages:>5} messages in "
              f"{float(result['seconds']):6.2f} s:{detail}, {counts['connections']} "
              f"connection(s), {counts['bytes'] // messages} bytes/message", flush=True)

    def run(self):
        contenders = [c for c in CONTENDERS if c in self.args.contenders]
        for rnd in range(1, self.args.rounds + 1):
            print(f"round {rnd} of {self.args.rounds}", flush=True)
            # a different starting contender each round, so that no one always goes first
            shift = (rnd - 1) % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            for mode in self.args.modes:
                for contender in order:
                    self.run_one(contender, mode, rnd)

    # the report

    def table(self):
        rows = []
        header = ["contender", "mode", "messages", "messages/s (median)", "messages/s per round",
                  "Send→Sent (median)", "peak RSS", "connections/run"]
        for contender in CONTENDERS:
            if contender == "daemon-latency":
                continue
            for mode in MODES:
                runs = self.results.get((contender, mode))
                if not runs:
                    continue
                rates = [float(r["rate"]) for r in runs]
                latency = rss = "–"
                if contender == "daemon-1" and (("daemon-latency", mode) in self.results):
                    lat = [float(r["latency_median_ms"])
                           for r in self.results[("daemon-latency", mode)]]
                    latency = f"{statistics.median(lat):.2f} ms"
                if contender.startswith("daemon-"):
                    peak = max(int(r["vmhwm_kib"]) for r in runs)
                    rss = f"{peak / 1024:.1f} MiB"
                rows.append([LABELS[contender], mode, runs[0]["messages"],
                             f"{statistics.median(rates):.1f}",
                             " / ".join(f"{x:.0f}" for x in rates), latency, rss,
                             str(runs[0]["connections"])])
        if ("daemon-latency", "plain") in self.results and not any(
                r[0] == LABELS["daemon-1"] for r in rows):
            for mode in MODES:
                lat = [float(r["latency_median_ms"])
                       for r in self.results.get(("daemon-latency", mode), [])]
                if lat:
                    rows.append(["org.mail.Sender, latency only", mode, "–", "–", "–",
                                 f"{statistics.median(lat):.2f} ms", "–", "–"])
        widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
                 "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        for row in rows:
            lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
        return "\n".join(lines)

    def ratios(self):
        """The issue's targets, for the modes where both sides were measured."""
        out = []

        def median_rate(contender, mode):
            runs = self.results.get((contender, mode))
            return statistics.median(float(r["rate"]) for r in runs) if runs else None

        for mode in MODES:
            best = max(filter(None, (median_rate("daemon-1", mode),
                                     median_rate("daemon-8", mode))), default=None)
            if best is None:
                continue
            for other, target in (("nodemailer", 1.5), ("msmtp", 50)):
                rate = median_rate(other, mode)
                if rate:
                    ratio = best / rate
                    verdict = "met" if ratio >= target else "not met"
                    out.append(f"{mode}: org.mail.Sender (best of 1/8 clients) is {ratio:.2f}× "
                               f"{other} (target ≥ {target}×: {verdict})")
        for mode in MODES:
            runs = self.results.get(("daemon-latency", mode))
            if runs and mode == "plain":
                lat = statistics.median(float(r["latency_median_ms"]) for r in runs)
                verdict = "met" if lat < 5 else "not met"
                out.append(f"plain: median Send→Sent {lat:.2f} ms (target < 5 ms: {verdict})")
        peaks = [int(r["vmhwm_kib"]) for c in ("daemon-1", "daemon-8") for m in MODES
                 for r in self.results.get((c, m), [])]
        if peaks:
            verdict = "met" if max(peaks) < 16 * 1024 else "not met"
            out.append(f"daemon peak RSS {max(peaks) / 1024:.1f} MiB over all "
                       f"{self.args.messages}-message runs (target < 16 MiB: {verdict})")
        return out


def tail(path, lines=20):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def command_output(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=10).stdout.strip()
    except OSError:
        return "?"


def machine(args):
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    uname = platform.uname()
    daemon = os.path.join(args.build_dir, "service", "mail-senderd")
    versions = [command_output([daemon, "--version"]) or "mail-senderd ?"]
    if "msmtp" in args.contenders:
        versions.append((command_output([args.msmtp, "--version"]) or "msmtp ?").splitlines()[0])
    if "nodemailer" in args.contenders:
        versions.append(f"node {command_output(['node', '--version'])} with nodemailer "
                        f"{nodemailer_version()}")
    versions.append("Python " + platform.python_version())
    return [f"date: {date}",
            f"machine: {os.cpu_count()} CPUs (nproc {command_output(['nproc'])}), {cpu}",
            f"load average: {loadavg()}",
            f"kernel: {uname.system} {uname.release} {uname.machine}",
            "software: " + ", ".join(v for v in versions if v)]


def loadavg():
    """1, 5 and 15 minute load averages: other work on the machine skews the numbers."""
    with open("/proc/loadavg", encoding="utf-8") as f:
        return " ".join(f.read().split()[:3])


def nodemailer_version():
    path = os.path.join(HERE, "nodemailer", "node_modules", "nodemailer", "package.json")
    try:
        with open(path, encoding="utf-8") as f:
            match = re.search(r'"version"\s*:\s*"([^"]+)"', f.read())
        return match.group(1) if match else "?"
    except OSError:
        return "?"


def on_sigterm(*_):
    print("\nbench: stopped by SIGTERM", file=sys.stderr, flush=True)
    sys.exit(143)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--certs-dir", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--bench-daemon", required=True)
    parser.add_argument("--msmtp", default="msmtp")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--msmtp-messages", type=int, default=100)
    parser.add_argument("--latency-messages", type=int, default=50)
    parser.add_argument("--max-connections", type=int, default=5)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=240)
    parser.add_argument("--modes", default=" ".join(MODES))
    parser.add_argument("--contenders", default=" ".join(CONTENDERS))
    args = parser.parse_args()
    args.modes = args.modes.split()
    args.contenders = args.contenders.split()
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r} (known: {' '.join(MODES)})")
    for contender in args.contenders:
        if contender not in CONTENDERS:
            parser.error(f"unknown contender {contender!r} (known: {' '.join(CONTENDERS)})")
    if "DBUS_SESSION_BUS_ADDRESS" not in os.environ:
        parser.error("no session bus: run this through tests/bench/run.sh")

    # SIGTERM (run.sh's trap, a CI timeout) unwinds like Ctrl-C, through stop_all()
    signal.signal(signal.SIGTERM, on_sigterm)
    bench = Bench(args)
    header = machine(args)
    for line in header:
        print(line)
    print(f"{args.rounds} round(s); modes: {' '.join(args.modes)}; org.mail.Sender with "
          f"max-connections={args.max_connections}, {args.window} Send call(s) in flight per "
          "client, spool on disk at " + args.workdir, flush=True)
    start = time.monotonic()
    try:
        bench.run()
    except BenchError as e:
        print(f"\nBENCHMARK FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        bench.procs.stop_all()
    print(f"\nall {bench.runs} runs delivered every message exactly once "
          f"({time.monotonic() - start:.0f} s)\n")
    for line in header:
        print(line)
    print(f"load average at the end: {loadavg()}")
    print()
    print(bench.table())
    print()
    for line in bench.ratios():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
