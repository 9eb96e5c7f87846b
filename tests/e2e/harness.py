"""What every e2e runner shares: the check recorder, the mta-stsd process, the main() skeleton.

    def main():
        return harness.main(__doc__, "control", OVERALL_LIMIT, body)

    def body(run):               # run.args (paths made absolute), run.checks, run.on_exit()
        d = MyDaemon(...)        # a harness.Daemon subclass that writes its configuration
        run.checks.ok("daemon starts", d.start(), procs.log_tail(d.log))

A runner prints one line per check ("ok - ..." / "not ok - ...: detail"), then
"# N passed, M failed in S s", and exits 0 only if every check passed. Any exception of
the harness itself is one more failed check, so a crash can never pass for success.
"""
import argparse
import os
import re
import signal
import subprocess
import time

try:
    from . import procs  # imported as a package
    from .postfix import ProtocolError, query_once
except ImportError:
    import procs  # run from tests/e2e
    from postfix import ProtocolError, query_once

HOST = "127.0.0.1"
NOTFOUND = "NOTFOUND "
SHUTDOWN_TIMEOUT = 5.0   # shutdown_timeout of every daemon configuration written here

_daemon_logs = []        # (name, path) of every daemon's log, shown when a check failed
_live_daemons = []       # started and not yet stopped: stopped before the logs are shown


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.skipped = []

    def ok(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed.append(name)
            print("not ok - %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return cond

    def eq(self, name, expected, got):
        return self.ok(name, expected == got, "expected %r got %r" % (expected, got))

    def skip(self, name, why):
        """A part this host cannot run (TAP's "# SKIP"): a run of nothing but skips
        exits SKIPPED (CTest shows "Skipped", not "Passed")."""
        self.skipped.append(name)
        print("ok - %s # SKIP %s" % (name, why), flush=True)


# The exit code of a run that could only skip: tests/CMakeLists.txt gives it to CTest
# as SKIP_RETURN_CODE.
SKIPPED = 77


class Overtime(Exception):
    pass


def dump_logs(paths):
    for name, path in paths:
        print("# ----- tail of %s (%s)" % (name, path))
        for line in procs.log_tail(path, 60).splitlines():
            print("# " + line)


def show_log_on_failure(name, path):
    """Adds a log to the tails printed when a check failed (daemons add their own)."""
    _daemon_logs.append((name, path))


def remove(*paths):
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)


def ctl(binary, *args, timeout=60):
    """mta-stsctl ARGS..., output captured as text."""
    return subprocess.run([binary] + list(args), capture_output=True, text=True,
                          timeout=timeout)


# ----- the daemon ---------------------------------------------------------------------
class Daemon:
    """One mta-stsd configuration in the workdir (NAME.yml, NAME.log, NAME.ctl). Subclasses
    write the configuration with write_config(); start() again after stop()/kill() is a
    restart on the same files and port."""

    def __init__(self, binary, workdir, name, host=HOST, *, control=False, query_timeout=10.0,
                 start_timeout=10, stop_timeout=10):
        self.binary = binary
        self.workdir = workdir
        self.name = name
        self.host = host
        self.port = procs.free_port(host)
        self.config = os.path.join(workdir, name + ".yml")
        self.log = os.path.join(workdir, name + ".log")
        self.control = os.path.join(workdir, name + ".ctl") if control else None
        self.query_timeout = query_timeout
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc = None
        self._log_mark = 0
        # Left from an earlier run, they would be taken for this run's.
        remove(self.log, *([self.control] if control else []))
        show_log_on_failure("mta-stsd " + name, self.log)

    def write_config(self, settings, nameserver, ca_file, log_level="debug"):
        """The whole configuration: settings (YAML lines ending in a newline) between what
        every runner's daemon has in common."""
        control = "control_socket: %s\n" % self.control if self.control else ""
        # The tests run as root (nginx binds port 443), which mta-stsd refuses unless the
        # configuration allows it; run_startup.py checks the refusal and privileges.user.
        if "privileges:" not in settings:
            settings += "privileges: {allow_root: true}\n"
        with open(self.config, "w") as f:
            f.write(f"""\
host: {self.host}
port: {self.port}
shutdown_timeout: {SHUTDOWN_TIMEOUT:g}
{control}{settings}resolver: {{nameservers: ["{nameserver}"]}}
tls: {{ca_file: {ca_file}}}
log_level: {log_level}
""")

    def argv(self):
        return [self.binary, "-c", self.config]

    def start(self):
        """True once the daemon accepts connections and, if it has one, has created its
        control socket."""
        self._log_mark = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.proc = procs.ManagedProcess("mta-stsd", self.argv(), self.log, cwd=self.workdir)
        _live_daemons.append(self)
        if not procs.wait_tcp(self.host, self.port, self.start_timeout, self.proc):
            return False
        if self.control is None:
            return True
        deadline = time.monotonic() + 5
        while not os.path.exists(self.control) and time.monotonic() < deadline:
            time.sleep(0.05)
        return os.path.exists(self.control)

    def stop(self):
        """SIGTERM; the exit code (None if it had to be killed, or was not running)."""
        if self.proc is None:
            return None
        self.proc.signal(signal.SIGTERM)
        rc = self.proc.wait(self.stop_timeout)
        self._forget()
        return rc

    def kill(self):
        self.proc.signal(signal.SIGKILL)
        self.proc.wait(10)
        self._forget()

    def _forget(self):
        self.proc.stop()  # SIGKILL after a grace if SIGTERM was not enough
        self.proc = None
        if self in _live_daemons:
            _live_daemons.remove(self)

    def query(self, key, name="postfix", timeout=None):
        """The socketmap reply to "NAME KEY", or "error: ..." (then never equal to a reply)."""
        try:
            return query_once(self.host, self.port, name, key,
                              timeout=self.query_timeout if timeout is None else timeout)
        except (OSError, ProtocolError) as e:
            return "error: %r" % e

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def run_log(self):
        """The log of the current (or last) run only."""
        with open(self.log, "rb") as f:
            f.seek(self._log_mark)
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout):
        """The first match of pattern in the log, waiting up to timeout seconds; or None."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log_text())
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.1)


# ----- the runner's main() ------------------------------------------------------------
class Run:
    """What body(run) gets: the parsed arguments, the checks, and where to register the
    clean-ups (run last first) and the server logs shown on failure."""

    def __init__(self, args):
        self.args = args
        self.checks = Checks()
        self._exits = []
        self._logs = []

    def on_exit(self, stop, logs=None):
        """stop() runs at the end, after the daemons are stopped; logs() gives the
        (name, path) pairs to show when a check failed."""
        self._exits.append(stop)
        if logs is not None:
            self._logs.append(logs)

    def finish(self):
        """Stops everything; the log tails first if a check failed."""
        for d in list(_live_daemons):
            d.stop()
        if self.checks.failed:
            dump_logs(_daemon_logs + [entry for logs in self._logs for entry in logs()])
        for stop in reversed(self._exits):
            stop()


def parse_args(doc, add_arguments=None):
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--ctl", required=True)  # CTest passes it to every e2e runner
    ap.add_argument("--workdir", required=True)
    if add_arguments:
        add_arguments(ap)
    args = ap.parse_args()
    args.daemon = os.path.abspath(args.daemon)
    args.ctl = os.path.abspath(args.ctl)
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    return args


def main(doc, what, limit, body, add_arguments=None):
    """Runs body(run) within limit seconds (SIGALRM raises Overtime in it); the exit code."""
    run = Run(parse_args(doc, add_arguments))
    c = run.checks

    def overtime(*_):
        raise Overtime("the %s run exceeded %d s" % (what, limit))

    signal.signal(signal.SIGALRM, overtime)
    signal.alarm(limit)
    started = time.monotonic()
    try:
        body(run)
    except Exception as e:  # noqa: BLE001 - any crash of the harness is a failed check
        c.ok("harness ran to completion", False, "%s: %s" % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        run.finish()
    if c.passed == 0 and not c.failed and not c.skipped:
        c.ok("the run checked something", False, "no check ran")  # a silent run is no pass
    print("# %d passed, %d failed, %d skipped in %.0f s"
          % (c.passed, len(c.failed), len(c.skipped), time.monotonic() - started))
    for name in c.failed:
        print("# failed: " + name)
    if c.failed:
        return 1
    return SKIPPED if c.passed == 0 else 0
