"""A local AWS Lambda Runtime API for measuring function processes.

It serves the four runtime routes a custom runtime uses
(``/2018-06-01/runtime/invocation/next``, ``.../{id}/response``,
``.../{id}/error`` and ``/2018-06-01/runtime/init/error``) on 127.0.0.1,
starts the function binary itself, and times it:

``init``
    Starts each binary RUNS times, interleaved, and records the time from
    spawn to the first ``invocation/next`` connection. A binary given with
    an event file also gets that event, and the time to its response is
    recorded, then ``--warm`` more events and their durations. With ``--cpu-percent`` each
    process runs in a CPU cgroup limited to that share of one core.

``calls``
    Starts each binary, sends its event twice, and records the AWS requests
    the emulator counted during the second invocation.

``soak``
    Sends COUNT events to one binary and samples its resident set size
    (VmRSS, and the peak VmHWM) from /proc every ``--sample-every`` events.

Results go to ``--out`` as JSON. Every timing uses time.perf_counter().

Usage:
    runtime_api.py init --out FILE --runs N [--warm N] [--cpu-percent P]
        [--count-url URL] NAME=BINARY[,EVENT_FILE]...
    runtime_api.py calls --out FILE --count-url URL NAME=BINARY,EVENT_FILE...
    runtime_api.py soak --out FILE --count N [--sample-every N] NAME=BINARY EVENT_FILE
"""

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"


class Session:
    """The state of one function process: its queue of events and results."""

    def __init__(self):
        self.events = queue.Queue()
        self.results = {}
        self.changed = threading.Condition()
        self.first_next_at = None
        self.init_error = None

    def note(self, update):
        with self.changed:
            update()
            self.changed.notify_all()

    def wait_for(self, predicate, timeout):
        deadline = time.perf_counter() + timeout
        with self.changed:
            while not predicate():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True

    def invoke(self, event, timeout=30.0):
        """Queues one event and waits for its response or error.

        Returns (kind, body bytes, seconds from queueing to the response).
        """
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        self.events.put((request_id, event))
        if not self.wait_for(lambda: request_id in self.results, timeout):
            raise TimeoutError(f"no response or error for invocation {request_id} within {timeout} s")
        kind, body, finished = self.results.pop(request_id)
        return kind, body, finished - started

    def close(self):
        # Releases a handler thread still waiting for an event for a
        # process that has exited.
        self.events.put(None)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.session = Session()
        self.accepted_at = {}

    def handle_error(self, request, client_address):
        # A function process that is stopped drops its connections; that is
        # expected and not worth a traceback.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def get_request(self):
        connection, address = super().get_request()
        # Stamped in the accepting thread, before a handler thread starts,
        # so the time is the connection's and not the thread start's.
        self.accepted_at[address] = time.perf_counter()
        return connection, address


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        session = self.server.session
        if self.path != f"{PREFIX}/invocation/next":
            self.reply(404)
            return
        accepted = self.server.accepted_at.get(self.client_address, time.perf_counter())
        if session.first_next_at is None:
            session.note(lambda: setattr(session, "first_next_at", accepted))
        item = session.events.get()
        if item is None:
            self.close_connection = True
            return
        request_id, event = item
        deadline_ms = int(time.time() * 1000) + 30_000
        self.reply(
            200,
            event,
            [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
            ],
        )

    def do_POST(self):
        session = self.server.session
        body = self.read_body()
        finished = time.perf_counter()
        parts = self.path[len(PREFIX):].strip("/").split("/")
        if parts == ["init", "error"]:
            session.note(lambda: setattr(session, "init_error", body))
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            request_id, kind = parts[1], parts[2]
            session.note(lambda: session.results.__setitem__(request_id, (kind, body, finished)))
        else:
            self.reply(404)
            return
        self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])


class CpuLimit:
    """A CPU cgroup that limits its processes to a share of one core.

    Uses cgroup v2 (cpu.max) when the unified hierarchy has the cpu
    controller, else cgroup v1 (cpu.cfs_quota_us). The period is 20 ms, so
    that a short start-up cannot finish inside one period's quota unthrottled.
    """

    PERIOD_US = 20_000

    def __init__(self, percent):
        self.quota_us = max(1000, int(self.PERIOD_US * percent / 100))
        name = f"link-bench-{os.getpid()}"
        if self._has_v2_cpu():
            self.path = f"/sys/fs/cgroup/{name}"
            os.mkdir(self.path)
            self._write("cpu.max", f"{self.quota_us} {self.PERIOD_US}")
            self.mechanism = f"cgroup v2 cpu.max = {self.quota_us} {self.PERIOD_US}"
        else:
            self.path = f"/sys/fs/cgroup/cpu/{name}"
            os.mkdir(self.path)
            self._write("cpu.cfs_period_us", str(self.PERIOD_US))
            self._write("cpu.cfs_quota_us", str(self.quota_us))
            self.mechanism = (
                f"cgroup v1 cpu.cfs_quota_us = {self.quota_us} per "
                f"cpu.cfs_period_us = {self.PERIOD_US}"
            )

    @staticmethod
    def _has_v2_cpu():
        try:
            with open("/sys/fs/cgroup/cgroup.controllers") as f:
                if "cpu" not in f.read().split():
                    return False
            with open("/sys/fs/cgroup/cgroup.subtree_control", "a") as f:
                f.write("+cpu")
            return True
        except OSError:
            return False

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def join(self):
        """Moves the calling process into the group (used before exec)."""
        self._write("cgroup.procs", str(os.getpid()))

    def throttled(self):
        """Returns (times throttled, throttled seconds) so far."""
        stats = {}
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                stats[key] = int(value)
        if "throttled_usec" in stats:
            return stats.get("nr_throttled", 0), stats["throttled_usec"] / 1e6
        return stats.get("nr_throttled", 0), stats.get("throttled_time", 0) / 1e9

    def remove(self):
        os.rmdir(self.path)


def function_env(server):
    env = dict(os.environ)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        }
    )
    return env


def start_server():
    server = Server()
    # shutdown() waits for the loop to look at its flag, by default every
    # half second; each start ends with one, so poll more often.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                     daemon=True).start()
    return server


def spawn(binary, cpu_limit=None, log=subprocess.DEVNULL):
    """Starts `binary` against a Runtime API of its own, on a new port, so
    that no late request of an earlier process can take its events.

    Returns (server, process, start time)."""
    server = start_server()
    env = function_env(server)
    started = time.perf_counter()
    process = subprocess.Popen(
        [binary],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        preexec_fn=cpu_limit.join if cpu_limit else None,
    )
    return server, process, started


def cpu_ms(pid):
    """Returns the CPU time all threads of `pid` have run, in milliseconds,
    from /proc/PID/task/*/schedstat (nanoseconds on the CPU)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e6


def stop(server, process):
    process.kill()
    process.wait()
    server.session.close()
    server.shutdown()
    server.server_close()


def aws_request_count(url):
    if not url:
        return None
    with urllib.request.urlopen(url, timeout=5) as response:
        return sum(json.load(response).values())


def status_of(kind, body):
    """Returns the statusCode of a function's API Gateway response, "link"
    for a direct invocation's result with a link in it, or None."""
    if kind != "response":
        return None
    try:
        result = json.loads(body)
    except ValueError:
        return None
    if not isinstance(result, dict):
        return None
    if "statusCode" in result:
        return result["statusCode"]
    return "link" if "link_id" in result else None


def parse_spec(spec):
    """Splits NAME=BINARY[,EVENT_FILE] into (name, binary, event bytes or None)."""
    name, _, rest = spec.partition("=")
    binary, _, event_file = rest.partition(",")
    event = None
    if event_file:
        with open(event_file, "rb") as f:
            event = f.read()
    return name, binary, event


def measure_start(name, binary, event, args, cpu_limit):
    session_timeout = 30.0
    before = aws_request_count(args.count_url)
    throttled_before = cpu_limit.throttled() if cpu_limit else None
    server, process, started = spawn(binary, cpu_limit)
    session = server.session
    try:
        ready = session.wait_for(
            lambda: session.first_next_at is not None or session.init_error is not None,
            session_timeout,
        )
        if not ready or session.first_next_at is None:
            raise RuntimeError(f"{name}: no invocation/next within {session_timeout} s "
                               f"(init error: {session.init_error!r}, exit: {process.poll()})")
        result = {
            "init_ms": (session.first_next_at - started) * 1000,
            "init_cpu_ms": cpu_ms(process.pid),
        }
        if before is not None:
            result["aws_requests_during_init"] = aws_request_count(args.count_url) - before
        if event is not None:
            kind, body, _ = session.invoke(event)
            result["first_response_ms"] = (time.perf_counter() - started) * 1000
            result["first_status"] = status_of(kind, body)
            result["first_response_cpu_ms"] = cpu_ms(process.pid)
            if cpu_limit:
                count, seconds = cpu_limit.throttled()
                result["throttled_periods"] = count - throttled_before[0]
                result["throttled_ms"] = (seconds - throttled_before[1]) * 1000
            warm = []
            for _ in range(args.warm):
                kind, body, seconds = session.invoke(event)
                if status_of(kind, body) != result["first_status"]:
                    raise RuntimeError(f"{name}: warm invocation returned {kind} {body[:200]!r}")
                warm.append(seconds * 1000)
            if warm:
                result["warm_ms"] = warm
        return result
    finally:
        stop(server, process)


def summarize(values):
    ordered = sorted(values)
    return {
        "runs": len(ordered),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "max": ordered[-1],
    }


def run_init(args):
    binaries = [parse_spec(spec) for spec in args.binaries]
    cpu_limit = CpuLimit(args.cpu_percent) if args.cpu_percent else None
    runs = {name: [] for name, _, _ in binaries}
    try:
        # One unmeasured start each, so the binaries are in the page cache.
        for name, binary, event in binaries:
            measure_start(name, binary, event, args, cpu_limit)
        for _ in range(args.runs):
            for name, binary, event in binaries:
                runs[name].append(measure_start(name, binary, event, args, cpu_limit))
    finally:
        if cpu_limit:
            cpu_limit.remove()
    out = {
        "runs": args.runs,
        "cpu_percent": args.cpu_percent,
        "cpu_limit": cpu_limit.mechanism if cpu_limit else None,
        "warm": args.warm,
        "functions": {},
    }
    for name, results in runs.items():
        summary = {"init_ms": summarize([r["init_ms"] for r in results])}
        for key in ("init_cpu_ms", "first_response_ms", "first_response_cpu_ms", "throttled_ms"):
            if key in results[0]:
                summary[key] = summarize([r[key] for r in results])
        if "warm_ms" in results[0]:
            summary["warm_ms"] = summarize([v for r in results for v in r["warm_ms"]])
        if "first_status" in results[0]:
            summary["first_status"] = sorted({r["first_status"] for r in results}, key=str)
        if "aws_requests_during_init" in results[0]:
            summary["aws_requests_during_init"] = max(r["aws_requests_during_init"] for r in results)
        out["functions"][name] = summary
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


def aws_counts(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def run_calls(args):
    """Counts the AWS requests of one warm invocation of each function."""
    out = {}
    for spec in args.binaries:
        name, binary, event = parse_spec(spec)
        server, process, _ = spawn(binary)
        session = server.session
        try:
            if not session.wait_for(lambda: session.first_next_at is not None, 30.0):
                raise RuntimeError(f"{name}: did not start (exit: {process.poll()})")
            # The first request may make one-time calls (credentials,
            # connections); only the second is counted.
            session.invoke(event)
            before = aws_counts(args.count_url)
            kind, body, _ = session.invoke(event)
            after = aws_counts(args.count_url)
            if status_of(kind, body) != 200:
                raise RuntimeError(f"{name}: returned {kind} {body[:300]!r}")
        finally:
            stop(server, process)
        out[name] = {
            key: after[key] - before.get(key, 0)
            for key in after
            if after[key] != before.get(key, 0)
        }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


def memory_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def run_soak(args):
    name, binary = args.binary.split("=", 1)
    with open(args.event, "rb") as f:
        event = f.read()
    server, process, _ = spawn(binary)
    session = server.session
    samples = []
    failures = 0
    durations = []
    try:
        if not session.wait_for(lambda: session.first_next_at is not None, 30.0):
            raise RuntimeError(f"{name}: did not start (exit: {process.poll()})")
        samples.append({"invocations": 0, **memory_kib(process.pid)})
        for i in range(1, args.count + 1):
            kind, body, seconds = session.invoke(event)
            durations.append(seconds * 1000)
            if status_of(kind, body) != 200:
                failures += 1
                if failures == 1:
                    print(f"{name}: invocation {i} returned {kind} {body[:300]!r}",
                          file=sys.stderr)
            if i % args.sample_every == 0:
                samples.append({"invocations": i, **memory_kib(process.pid)})
    finally:
        stop(server, process)

    def rss_at(invocations):
        return next(s["VmRSS"] for s in samples if s["invocations"] == invocations)

    first, last = min(1000, args.count), args.count
    out = {
        "function": name,
        "invocations": args.count,
        "failures": failures,
        "rss_kib_at_start": samples[0]["VmRSS"],
        "rss_kib_after_first_1000": rss_at(first),
        "rss_kib_at_end": rss_at(last),
        "growth_kib_first_to_last_1000": rss_at(last) - rss_at(first),
        "peak_kib": max(s["VmHWM"] for s in samples),
        "duration_ms": summarize(durations),
        "samples": samples,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    init = modes.add_parser("init", help="time start-up (and a first request)")
    init.add_argument("--out", required=True, help="JSON result file")
    init.add_argument("--runs", type=int, default=20, help="measured starts per binary")
    init.add_argument("--warm", type=int, default=0, help="further events after the first")
    init.add_argument("--cpu-percent", type=float, help="CPU share of one core, in percent")
    init.add_argument("--count-url", help="URL returning the AWS emulator's request counts")
    init.add_argument("binaries", nargs="+", metavar="NAME=BINARY[,EVENT_FILE]",
                      help="with EVENT_FILE, the event is sent once the binary started")
    calls = modes.add_parser("calls", help="AWS requests of one warm invocation")
    calls.add_argument("--out", required=True, help="JSON result file")
    calls.add_argument("--count-url", required=True, help="URL returning the request counts")
    calls.add_argument("binaries", nargs="+", metavar="NAME=BINARY,EVENT_FILE")
    soak = modes.add_parser("soak", help="memory over many invocations")
    soak.add_argument("--out", required=True, help="JSON result file")
    soak.add_argument("--count", type=int, default=10_000, help="invocations")
    soak.add_argument("--sample-every", type=int, default=100, help="invocations between samples")
    soak.add_argument("binary", metavar="NAME=BINARY")
    soak.add_argument("event", metavar="EVENT_FILE")
    args = parser.parse_args()
    if args.mode == "init":
        run_init(args)
    elif args.mode == "calls":
        run_calls(args)
    else:
        run_soak(args)


if __name__ == "__main__":
    main()
