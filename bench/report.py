"""Writes docs/benchmarks.md from the results script/bench collected.

Every figure on the page is read from a file in RESULTS_DIR; the prices
come from the PRICE_* variables that script/bench sets. Each target is
checked here, and each miss is printed with the measurement that explains
it.

Usage: python bench/report.py RESULTS_DIR CRITERION_DIR OUT_FILE
"""

import json
import math
import os
import sys

MB = 1_000_000
FUNCTIONS = os.environ.get("BENCH_FUNCTIONS", "access files generate-link upload-file").split()
# Every function in template.yaml.
ALL_FUNCTIONS = ["generate-link", "upload-file", "access", "links", "files", "upload-url",
                 "link-events"]


def load(results, name):
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def price(name):
    return float(os.environ[name])


def ms(value, digits=1):
    return f"{value:.{digits}f} ms"


def us(ns):
    return f"{ns / 1000:.1f} µs"


def size(value):
    return f"{value / MB:.2f} MB ({value:,} bytes)"


def verdict(ok):
    return "met" if ok else "**missed**"


class Page:
    def __init__(self):
        self.lines = []
        self.summary = []

    def add(self, *lines):
        self.lines.extend(lines)

    def table(self, header, rows):
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        for row in rows:
            self.add("| " + " | ".join(str(cell) for cell in row) + " |")
        self.add("")

    def target(self, figure, measured, target, ok):
        self.summary.append((figure, measured, target, verdict(ok) if ok is not None else "not measured"))


def section_machine(page, results):
    machine = load(results, "machine.json")
    page.add("## Machine", "")
    page.table(
        ["what", "value"],
        [
            ["date (UTC)", machine["date"]],
            ["CPU", f"{machine['cpu']}, {machine['cores']} cores"],
            ["memory", f"{machine['memory_gib']:.1f} GiB"],
            ["kernel", machine["kernel"]],
            ["OS", machine["os"]],
            ["Rust (native builds)", machine["rustc"]],
            ["Rust (arm64 build)", machine.get("rustc_arm64", "not built")],
            ["load average (1 min) at start and end", f"{machine['load_start']} and {machine['load_end']}"],
            ["CPU busy (both cores) in the second before the timed steps",
             f"{machine['busy_before_timed_percent']}%, after waiting {machine['quiet_wait_s']} s"
             if "busy_before_timed_percent" in machine else "not measured"],
            ["script/bench time in tools and builds", f"{machine['build_s']:.0f} s"],
            ["CPU time of the tools and builds (all processes)",
             f"{machine['build_cpu_s']:.0f} s" if "build_cpu_s" in machine else "not measured"],
            ["script/bench time in measurements", f"{machine['measure_s']:.0f} s"],
        ],
    )
    page.add(
        "The machine is shared: the load average shows how busy its two cores "
        "were with other work. The timed steps (start-up, handler CPU, throughput) "
        "run after the arm64 build, once the cores are less than 10% busy over one "
        "second or after 20 s of waiting; the table lists the busy share they "
        "started with. Every timing except the package size comes from "
        "native x86_64 release builds, not from the arm64 binaries that are deployed, "
        "which cannot run here. The native builds use the workspace's release profile "
        "(`opt-level = \"s\"`, one codegen unit, stripped) with LTO off "
        "(`CARGO_PROFILE_RELEASE_LTO=off`), for the functions and their hello-world "
        "baselines alike; the arm64 packages use the profile as it is, with fat LTO.",
        "",
    )


def section_commands(page, results):
    page.add("## Commands", "", "What `script/bench` ran, in order:", "", "```sh")
    with open(os.path.join(results, "commands.txt")) as f:
        page.add(*[line.rstrip("\n") for line in f])
    page.add("```", "")


def section_build(page, results):
    machine = load(results, "machine.json")
    page.add("## 0. Time of a run", "")
    total = machine.get("total_s")
    if total is None:
        page.target("script/bench wall time, cold run", "not measured", "<= 15 min", None)
        return
    cold = machine.get("cold", False)

    # The tools were fetched by this run if their stamp is newer than its start.
    started = os.path.getmtime(os.path.join(results, "machine.json")) - total
    stamp = os.path.join(os.path.dirname(os.path.abspath(results)), "..", ".venv-bench",
                         ".requirements.sha256")
    tools_fetched = os.path.exists(stamp) and os.path.getmtime(stamp) >= started
    tools = ("This run fetched the tools into `.venv-bench`. " if tools_fetched else
             "The tools in `.venv-bench` were already installed (a clean clone fetches them, "
             "in the background during the native builds). ")

    page.add(
        "Wall time of the whole `script/bench`, from its start to the writing of this page. "
        + ("The target directory held no release or arm64 build outputs, as in a clean clone, "
           "and cargo's download cache already held the crates. " + tools
           if cold else
           "The target directory already held build outputs, so this is not a cold run. ")
        + "The tools are fetched and the arm64 packages built in the background while the "
        "native builds run. Target for a cold run: at most 15 minutes.",
        "",
    )
    label = "script/bench wall time, cold run" if cold else "script/bench wall time (warm, not a cold run)"
    page.target(label, f"{total / 60:.1f} min", "<= 15 min", total <= 900 if cold else None)

    builds = machine.get("builds", {})
    native = builds.get("native", {})
    arm64 = builds.get("arm64", {})
    page.table(
        ["part", "wall time"],
        [
            ["tools and all builds (native and arm64 side by side)", f"{machine['build_s']:.0f} s"],
            ["native builds (functions, local server, bench programs)",
             f"{native['seconds']} s" if native.get("seconds") is not None else "not measured"],
            ["arm64 build (after fetching the tools)",
             f"{arm64['seconds']} s" if arm64.get("seconds") is not None else "not measured"],
            ["measurements and this page", f"{machine['measure_s']:.0f} s"],
        ],
    )

    lists = [("native workspace build", native.get("units")),
             ("native bench programs build", native.get("bench_units")),
             ("arm64 build", arm64.get("units"))]
    rows = []
    all_units = all_binaries = 0.0
    for name, units in lists:
        if not units:
            continue
        total_units = sum(u["seconds"] for u in units)
        binaries = sum(u["seconds"] for u in units if u["unit"].endswith('"bin"'))
        all_units += total_units
        all_binaries += binaries
        top = ", ".join(f"{u['unit'].replace(chr(34), '')} {u['seconds']:.0f} s" for u in units[:6])
        rows.append([name, len(units), f"{total_units:.0f} s", f"{binaries:.0f} s", top])

    if rows:
        page.add(
            "Where the build time went, from cargo's `--timings` reports: the summed wall "
            "time of the compile units (up to two run at once per build, and the two builds "
            "run at once, on a machine shared with other work, so a unit's time is longer "
            "than its CPU time), the part of it spent on the final link of each binary "
            "(in the arm64 build, with fat LTO and one codegen unit, that link optimises "
            "the whole program again for every binary), and the slowest units:",
            "",
        )
        page.table(["build", "units", "sum of unit times", "binaries (LTO link)", "slowest units"],
                   rows)
    if cold and total > 900:
        page.add(
            f"Cause of the miss: the builds take {machine['build_s']:.0f} s of the "
            f"{total:.0f} s, with {machine.get('build_cpu_s', 0):.0f} s of CPU on two cores; "
            f"the final links of the binaries take {all_binaries:.0f} s of the "
            f"{all_units:.0f} s summed unit time in the table above.",
            "",
        )


def section_package(page, results):
    package = load(results, "package.json")
    page.add("## 1. Package size", "")
    if package is None or not package.get("functions"):
        reason = (package or {}).get("error", "the arm64 build did not run")
        page.add(f"Not measured: {reason}.", "")
        page.target("package size (arm64, zipped)", "not measured", "<= 4 MB each", None)
        return
    page.add(
        f"`bootstrap` of each function from `cargo lambda build --release --arm64`, "
        f"compiled by {package['compiler']} (ELF machine {package['elf_machine']}, "
        f"{'AArch64' if package['elf_machine'] == 183 else 'not AArch64'}), zipped with "
        f"`zip -9`. Target: at most 4 MB (4,000,000 bytes) zipped.",
        "",
    )
    others = [name for name in ALL_FUNCTIONS if name not in FUNCTIONS]
    if others:
        page.add(
            f"The run builds the functions of the four public endpoints; "
            f"{', '.join(f'`{n}`' for n in others)} link the same `shared` crate and "
            f"dependencies and are not built here, to keep the run within its time "
            f"(`BENCH_FUNCTIONS` in `script/bench` can add them).",
            "",
        )
    rows = []
    worst = 0
    worst_name = FUNCTIONS[0]
    for name in FUNCTIONS:
        entry = package["functions"][name]
        if entry["zip_bytes"] > worst:
            worst, worst_name = entry["zip_bytes"], name
        rows.append([name, size(entry["bootstrap_bytes"]), size(entry["zip_bytes"]),
                     verdict(entry["zip_bytes"] <= 4 * MB)])
    page.table(["function", "bootstrap", "bootstrap.zip", "target"], rows)
    if worst > 4 * MB:
        native = load(results, "native-sizes.json")
        largest = native[worst_name]
        page.add(
            f"Cause of the miss: the code the functions link, not the runtime. Built "
            f"natively (LTO off), the `lambda_runtime` hello-world is "
            f"{size(native['hello-lambda']['bytes'])} stripped and `{worst_name}` is "
            f"{size(largest['bytes'])}. `{worst_name}` links {largest['crates']} crates "
            f"(`cargo tree`), among them {', '.join(largest['heavy'])}: `shared` gives every "
            f"function both stores (DynamoDB and S3, and SQLite). How much each crate adds "
            f"was not measured.",
            "",
        )
    page.target("package size (arm64, zipped), largest", size(worst), "<= 4 MB each", worst <= 4 * MB)


def section_init(page, results):
    plain = load(results, "init.json")
    quota = load(results, "init-quota.json")
    page.add("## 2. Start-up (init)", "")
    page.add(
        "Each binary is started by `bench/runtime_api.py`, a local Lambda Runtime "
        "API, and timed from spawn to the moment it connects for its first "
        "`invocation/next`. The functions run as deployed: the DynamoDB and S3 "
        "store, and the signing keys in a Secrets Manager secret "
        "(`SIGNING_KEYS_SECRET_ID`), which the first request that needs them reads. "
        "Every AWS endpoint is the emulator at 127.0.0.1, so no call leaves the "
        "machine; the emulator counted the AWS requests made before the first "
        "`invocation/next`. `hello` is "
        "`bench/src/bin/hello-lambda.rs`, a `lambda_runtime` function built in "
        "the same run with the same profile. CPU is the time all the process's "
        "threads ran, from `/proc/PID/task/*/schedstat`.",
        "",
    )
    hello = plain["functions"]["hello"]["init_ms"]["median"]
    hello_cpu = plain["functions"]["hello"]["init_cpu_ms"]["median"]
    rows = []
    worst_ratio = 0
    for name in ["hello"] + FUNCTIONS:
        entry = plain["functions"][name]
        init = entry["init_ms"]
        ratio = init["median"] / hello
        if name != "hello":
            worst_ratio = max(worst_ratio, ratio)
        rows.append([
            name, ms(init["median"], 2), ms(init["min"], 2), f"{ratio:.2f}",
            ms(entry["init_cpu_ms"]["median"], 2),
            f"{entry['init_cpu_ms']['median'] / hello_cpu:.2f}",
            entry.get("aws_requests_during_init", "-"),
            "" if name == "hello" else verdict(ratio <= 1.5),
        ])
    page.add(f"Without a CPU limit, {plain['runs']} starts each, interleaved:", "")
    page.table(["binary", "init median", "init min", "ratio to hello (median)",
                "CPU until first next (median)", "CPU ratio to hello",
                "AWS requests during init", "target <= 1.5"], rows)
    page.target("init ratio to hello-world, worst function", f"{worst_ratio:.2f}", "<= 1.5", worst_ratio <= 1.5)
    counted = load(results, "init-instructions.json")
    if counted:
        page.add(
            "Instructions until the first `invocation/next`, from `valgrind "
            "--tool=callgrind` with the runtime API on a closed port, split by the "
            "object that runs them. They leave out the kernel's work (mapping the "
            "binary, page faults, thread start), which the CPU column above includes.",
            "",
        )
        rows = []
        for name in ["hello-lambda"] + FUNCTIONS:
            entry = counted[name]
            parts = entry["by_object"]
            rows.append([name, f"{entry['total']:,}", f"{parts['binary']:,}",
                         f"{parts['dynamic loader']:,}", f"{parts['C library and others']:,}"])
        page.table(["binary", "instructions", "in the binary", "in the dynamic loader",
                    "in the C library and others"], rows)
    if worst_ratio > 1.5:
        hello_cpu = plain["functions"]["hello"]["init_cpu_ms"]["median"]
        worst_name = max(FUNCTIONS, key=lambda n: plain["functions"][n]["init_ms"]["median"])
        worst_cpu = plain["functions"][worst_name]["init_cpu_ms"]["median"]
        text = (
            f"Cause of the miss: `{worst_name}` runs {worst_cpu - hello_cpu:.2f} ms more "
            f"CPU than hello before its first `invocation/next` (median CPU column). "
        )
        if counted:
            fn = counted[worst_name]["by_object"]
            base = counted["hello-lambda"]["by_object"]
            sizes = load(results, "native-sizes.json")
            text += (
                f"Of its instructions, {fn['binary'] - base['binary']:,} more than hello's "
                f"are its own code: logging set-up, `Config::from_env` and "
                f"`App::from_config`, which builds the DynamoDB client and its endpoint "
                f"rules. The TLS settings and the S3, EventBridge and Secrets Manager "
                f"clients wait for the first request that needs them. Every accepted request "
                f"of every function uses DynamoDB, so building its client at the "
                f"first request would move that work into the first request, which "
                f"runs at the function's CPU share, instead of removing it. "
                f"{fn['dynamic loader'] - base['dynamic loader']:,} more are the dynamic "
                f"loader's, which relocates a binary of {size(sizes[worst_name]['bytes'])} "
                f"against hello's {size(sizes['hello-lambda']['bytes'])}. The kernel's "
                f"share of the CPU, which callgrind does not see, grows with the binary "
                f"too."
            )
        page.add(text, "")

    if quota is None:
        page.add("Under a CPU limit: not measured (no writable CPU cgroup).", "")
        page.target("cold start under 128 MB CPU share, first request included", "not measured", "<= 150 ms", None)
        return
    page.add(
        f"Under a CPU limit like a 128 MB function's (128/1769 of a vCPU, "
        f"{quota['cpu_percent']}% of one core), set with {quota['cpu_limit']}. "
        f"Each run sends one event after start-up, so the time includes the first "
        f"request, and then {quota.get('warm', 0)} more. The first request reads the "
        f"signing key secret and then serves the event; its calls go to the emulator "
        f"on loopback, which is not limited and stands in for Secrets Manager, "
        f"DynamoDB and S3. The events are the samples in `events/` with a fixture "
        f"link's token"
        + ("; `link-events` gets a direct invocation that makes a link to the "
           "fixture's object, and its status column says `link` when the result has one"
           if "link-events" in FUNCTIONS else "")
        + f". {quota['runs']} starts each:",
        "",
    )
    rows = []
    worst = 0
    for name in ["hello"] + FUNCTIONS:
        entry = quota["functions"][name]
        first = entry["first_response_ms"]["median"]
        if name != "hello":
            worst = max(worst, first)
        rows.append([
            name, ms(entry["init_ms"]["median"]), ms(first), ms(entry["first_response_ms"]["max"]),
            ms(entry["first_response_cpu_ms"]["median"], 2), ms(entry["throttled_ms"]["median"]),
            ", ".join(str(s) for s in entry["first_status"]),
            "" if name == "hello" else verdict(first <= 150),
        ])
    page.table(["binary", "init median", "init + first request median", "max",
                "CPU used (median)", "throttled until the first response (median)", "status", "target <= 150 ms"], rows)
    page.target("cold start under 128 MB CPU share, first request included, worst median",
                ms(worst), "<= 150 ms", worst <= 150)
    if worst > 150:
        page.add(
            "Cause of the miss: the CPU column is the work done; at this share of a "
            "core each millisecond of CPU takes about "
            f"{100 / quota['cpu_percent']:.0f} ms of wall time, and the throttled "
            "column is the time the cgroup held the process back.",
            "",
        )
    page.add(
        "Published figures for comparison (provided.al2023, arm64, 128 MB): a "
        "hello-world Rust function starts in about 12.5 ms using 14-15 MB; one with "
        "aws-sdk-dynamodb (11 MB package) in 112 ms, with a first request of 912 ms; "
        "Go about 41 ms, Python 86 ms, Node.js 131 ms.",
        "",
    )


def criterion_estimate(criterion_dir, case):
    path = os.path.join(criterion_dir, case, "new", "estimates.json")
    with open(path) as f:
        data = json.load(f)
    return data


def section_cpu(page, results, criterion_dir):
    callgrind = load(results, "callgrind.json") or {}
    page.add("## 3. Handler CPU per request", "")
    page.add(
        "`link-bench criterion` (`bench/src/cpu.rs`) runs the handlers in one process against "
        "an in-memory store (no I/O), on a current-thread tokio runtime, with log "
        "lines formatted as the functions format them and written to a sink. "
        "Each handler case parses its API Gateway event outside the timed part. "
        "`files-presigned` downloads through the S3 store's presigning with fake "
        "credentials (SigV4 query signing with aws-sigv4, credentials cached), and "
        "`presign` is that call alone; `presign-sigv4` is the signing call alone and "
        "`presign-endpoint` the aws-sdk-s3 endpoint rule resolution, which the "
        "presign no longer runs. Criterion gives the time; "
        "`valgrind --tool=callgrind` gives instructions per request, as the "
        "difference between two runs of different lengths divided by the "
        "difference in requests, so set-up is not counted.",
        "",
    )
    targets = {"access": 150_000, "files-inline": 150_000, "files-presigned": 150_000, "presign": 25_000}
    rows = []
    medians = {}
    for case in ["access", "files-inline", "files-presigned", "presign", "presign-endpoint",
                 "presign-sigv4", "token-verify"]:
        estimate = criterion_estimate(criterion_dir, case)
        median = estimate["median"]["point_estimate"]
        medians[case] = median
        mean = estimate["mean"]
        low = mean["confidence_interval"]["lower_bound"]
        high = mean["confidence_interval"]["upper_bound"]
        target = targets.get(case)
        instructions = callgrind.get(case, {}).get("instructions_per_request")
        rows.append([
            case, us(median), f"{us(mean['point_estimate'])} ({us(low)} to {us(high)})",
            f"{instructions:,.0f}" if instructions else "-",
            f"<= {target // 1000} µs" if target else "-",
            verdict(median <= target) if target else "",
        ])
        if target:
            label = "presign" if case == "presign" else f"handler CPU, {case}"
            page.target(label, us(median), f"<= {target // 1000} µs", median <= target)
    page.table(["case", "median", "mean (95% interval)", "instructions per request (callgrind)",
                "target", "result"], rows)
    if medians["presign"] > targets["presign"]:
        rest = medians["presign"] - medians["presign-sigv4"]
        page.add(
            f"Cause of the presign miss: of the {us(medians['presign'])} a presign takes, "
            f"SigV4 query signing alone takes {us(medians['presign-sigv4'])}; the remaining "
            f"{us(rest)} is building the URL and reading the cached credentials.",
            "",
        )
    for case in ["access", "files-inline", "files-presigned"]:
        if medians[case] > targets[case]:
            page.add(
                f"Cause of the `{case}` miss: the token check alone takes "
                f"{us(medians['token-verify'])} and the presign {us(medians['presign'])} "
                f"(rows above).",
                "",
            )
    page.add("Published figures for comparison: an S3 presign takes about 118 µs in "
             "Go and about 2 ms in boto3.", "")


def section_memory(page, results):
    page.add("## 4. Memory over many invocations", "")
    page.add(
        "Each function binary serves the events through the runtime API "
        "emulator: `/access` views of one link, and counted 1 KiB `/files` "
        "downloads of a link that allows them. The store is the embedded one "
        "(SQLite and a folder), because through the DynamoDB and S3 emulator a "
        "counted download took about 100 ms, which would make this step take "
        "a quarter of an hour. "
        "The resident set size is read from `/proc/PID/status` every 100 "
        "invocations; peak is `VmHWM`. Flat means a growth of at most 1 MiB from "
        "invocation 1,000 to the last. Target: peak at most 20 MB (20,000,000 bytes). "
        "Each SQLite connection's page cache is capped at 256 KiB (`PRAGMA cache_size` "
        "in `shared::adapters::embedded`); SQLite's default is 2,000 KiB.",
        "",
    )
    rows = []
    for name in ["access", "files"]:
        soak = load(results, f"soak-{name}.json")
        if soak is not None:
            count = f"{soak['invocations']:,}"
        if soak is None:
            rows.append([name, "not measured", "", "", "", "", ""])
            continue
        peak = soak["peak_kib"] * 1024
        growth = soak["growth_kib_first_to_last_1000"] * 1024
        rows.append([
            name, f"{peak / MB:.2f} MB", f"{soak['rss_kib_after_first_1000'] / 1024:.2f} MiB",
            f"{soak['rss_kib_at_end'] / 1024:.2f} MiB", f"{growth / 1024:+.0f} KiB",
            soak["failures"], f"{verdict(peak <= 20 * MB)} / {verdict(growth <= 1024 * 1024)}",
        ])
        page.target(f"peak RSS, {name}", f"{peak / MB:.2f} MB", "<= 20 MB", peak <= 20 * MB)
        page.target(f"RSS growth from invocation 1,000 to {count}, {name}",
                    f"{growth / 1024:+.0f} KiB", "flat (<= 1 MiB)", growth <= 1024 * 1024)
        if peak > 20 * MB or growth > 1024 * 1024:
            page.add(f"`{name}` RSS samples (invocations: KiB): " + ", ".join(
                f"{s['invocations']}: {s['VmRSS']}" for s in soak["samples"][::10]), "")
            span = soak["invocations"] - min(1000, soak["invocations"])
            if growth > 1024 * 1024 and span > 0:
                page.add(
                    f"Cause of the `{name}` growth: it is steady, "
                    f"{soak['growth_kib_first_to_last_1000'] * 1000 / span:.0f} KiB per 1,000 "
                    f"invocations. Each invocation appends an audit record to the SQLite "
                    f"database; the page cache of each connection is capped at 256 KiB "
                    f"(`PRAGMA cache_size`, `shared::adapters::embedded`), so this growth is "
                    f"not the page cache. The bench does not break the rest down.",
                    "",
                )
    page.table(["function", "peak RSS", "RSS after 1,000", "RSS at the end",
                "growth", "failed invocations", "targets (peak / flat)"], rows)


def section_calls(page, results):
    calls = load(results, "calls.json")
    page.add("## 5. Store calls per request", "")
    page.add(
        "The emulator counts each request it receives by operation "
        "(`bench/aws_emulator.py`). One warm request each, after a first one "
        "that is not counted. Target: exactly one DynamoDB call.",
        "",
    )
    rows = []
    for name in ["access", "files"]:
        counts = calls[name]
        dynamo = {k: v for k, v in counts.items() if k.startswith("dynamodb")}
        other = {k: v for k, v in counts.items() if not k.startswith("dynamodb")}
        total = sum(dynamo.values())
        rows.append([
            f"`/{name}`", total, ", ".join(f"{k} x{v}" for k, v in sorted(dynamo.items())),
            ", ".join(f"{k} x{v}" for k, v in sorted(other.items())) or "none",
            verdict(total == 1),
        ])
        page.target(f"DynamoDB calls per `/{name}`", total, "1", total == 1)
    page.table(["request", "DynamoDB calls", "operations", "other calls", "target 1"], rows)
    if any(sum(v for k, v in calls[name].items() if k.startswith("dynamodb")) > 1
           for name in ["access", "files"]):
        page.add(
            "Cause of the count above one: besides the link read (`GetItem` for a "
            "view, a conditional `UpdateItem` for a download), every view, download "
            "and refusal writes an audit record with its own `PutItem` "
            "(`shared::service::audit`), before the response goes out. DynamoDB has "
            "no single call that both reads or conditionally updates one item and "
            "writes another: `TransactWriteItems` returns no attributes, so a "
            "download would need a read before it, and still two calls. Keeping the "
            "records inside the link item would make one call. But DynamoDB bills a "
            "read or write by the whole item's size: every later check of a link "
            "would pay for its whole history, up to the item limit of 400 KB. Deriving "
            "the record afterwards from a DynamoDB stream of the link item would "
            "also make one call, at the price of a record that lags the access and "
            "another function to run; the service keeps the synchronous write.",
            "",
        )


def section_throughput(page, results):
    runs = load(results, "throughput.json")
    page.add("## 6. Local API throughput", "")
    page.add(
        "`wrk` on loopback against the release build of `local-server` over the "
        "embedded store (SQLite and a folder), and against "
        "`bench/src/bin/hello-http.rs`, a bare hyper server on the same stack, as "
        "the ceiling. The load generator shares the two cores with the server. "
        "One-time downloads use links made before the timed part, each "
        "requested once. Latency percentiles are wrk's; `errors` counts "
        "responses with a status of 400 or more and socket errors.",
        "",
    )
    rows = []
    for run in runs:
        result = run["result"]
        seconds = result["duration_us"] / 1e6
        errors = sum(result[k] for k in result if k.startswith("errors_"))
        rows.append([
            run["name"], run["concurrency"], f"{result['requests']:,}",
            f"{result['requests'] / seconds:,.0f}",
            ms(result["p50_us"] / 1000, 2), ms(result["p99_us"] / 1000, 2), errors,
        ])
    page.table(["target", "connections", "requests", "requests/s", "p50", "p99", "errors"], rows)


def section_cost(page, results, criterion_dir):
    quota = load(results, "init-quota.json")
    page.add("## 7. Cost per million link checks", "")
    request_price = price("PRICE_LAMBDA_REQUEST_PER_MILLION")
    gb_second = price("PRICE_LAMBDA_ARM_GB_SECOND")
    rest = price("PRICE_APIGW_REST_PER_MILLION")
    rru = price("PRICE_DYNAMODB_RRU_PER_MILLION")
    wru = price("PRICE_DYNAMODB_WRU_PER_MILLION")
    memory_gb = 128 / 1024
    calls = load(results, "calls.json")["access"]
    reads = sum(v for k, v in calls.items() if k in ("dynamodb GetItem", "dynamodb Query"))
    writes = sum(v for k, v in calls.items() if k in ("dynamodb PutItem", "dynamodb UpdateItem"))
    access_cpu_ns = criterion_estimate(criterion_dir, "access")["median"]["point_estimate"]
    durations = []
    if quota:
        warm = quota["functions"]["access"].get("warm_ms")
        if warm:
            durations.append(("measured warm `/access` invocation under the CPU limit, with the "
                              "emulator on loopback in place of DynamoDB (mean)", warm["mean"]))
    share = (quota or {}).get("cpu_percent") or 7.2
    durations.append(("handler CPU alone (criterion median) at the CPU share", access_cpu_ns / 1e6 / (share / 100)))
    page.add(
        "A link check is one `/access` request. Lambda bills each invocation's "
        "duration rounded up to the next millisecond at 128 MB; the request "
        f"makes {reads} DynamoDB read(s) (strongly consistent, item under 4 KB: one read "
        f"request unit each) and {writes} write(s) (item under 1 KB: one write request "
        "unit each), as counted in section 5. Data transfer, logs and the free tier "
        "are left out. Prices (us-east-1, as set in `script/bench`):",
        "",
    )
    page.table(
        ["input", "price", "source"],
        [
            ["Lambda arm64 duration",
             f"${os.environ['PRICE_LAMBDA_ARM_GB_SECOND']} per GB-second (first 7.5 billion a month)",
             os.environ["PRICE_SOURCE_LAMBDA"]],
            ["Lambda requests", f"${os.environ['PRICE_LAMBDA_REQUEST_PER_MILLION']} per million",
             os.environ["PRICE_SOURCE_LAMBDA"]],
            ["API Gateway REST API calls",
             f"${os.environ['PRICE_APIGW_REST_PER_MILLION']} per million (first 333 million a month)",
             os.environ["PRICE_SOURCE_APIGW"]],
            ["Lambda Function URL", "no charge beyond Lambda's", os.environ["PRICE_SOURCE_LAMBDA"]],
            ["DynamoDB on-demand reads",
             f"${os.environ['PRICE_DYNAMODB_RRU_PER_MILLION']} per million read request units",
             os.environ["PRICE_SOURCE_DYNAMODB"]],
            ["DynamoDB on-demand writes",
             f"${os.environ['PRICE_DYNAMODB_WRU_PER_MILLION']} per million write request units",
             os.environ["PRICE_SOURCE_DYNAMODB"]],
        ],
    )
    page.add(f"Prices checked on {os.environ['PRICE_DATE']}.", "")
    rows = []
    for label, duration in durations:
        billed = max(1, math.ceil(duration))
        compute = 1e6 * memory_gb * billed / 1000 * gb_second
        dynamo = reads * rru + writes * wru
        base = request_price + compute + dynamo
        rows.append([label, ms(duration, 2), f"{billed} ms", f"${compute:.4f}", f"${request_price:.2f}",
                     f"${dynamo:.4f}", f"${base + rest:.4f}", f"${base:.4f}"])
    page.table(["duration basis", "duration", "billed", "Lambda duration", "Lambda requests",
                "DynamoDB", "total, REST API", "total, Function URL"], rows)


def main():
    results, criterion_dir, out_file = sys.argv[1:4]
    page = Page()
    page.add(
        "# Benchmarks",
        "",
        "Written by `script/bench`, which builds the functions, runs every "
        "measurement below on this machine and writes this page; no figure is "
        "typed by hand. Run `script/bench` again to refresh it. Raw results are in "
        "`.bench/results/` after a run.",
        "",
    )
    body = Page()
    section_machine(body, results)
    section_commands(body, results)
    section_build(body, results)
    section_package(body, results)
    section_init(body, results)
    section_cpu(body, results, criterion_dir)
    section_memory(body, results)
    section_calls(body, results)
    section_throughput(body, results)
    section_cost(body, results, criterion_dir)
    page.add("## Summary", "")
    page.table(["figure", "measured", "target", "result"], body.summary)
    page.lines.extend(body.lines)
    with open(out_file, "w") as f:
        f.write("\n".join(page.lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
