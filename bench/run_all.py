"""Run every benchmark in sequence (each in its own process), then print a summary table
from their bench/results/*.json. ``--quick`` is passed on to each."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench import common

BENCHES = ["intake_rate", "outbox_drain", "memory", "ack_latency", "retry_sweep"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short smoke run of each")
    p.add_argument("--only", nargs="+", choices=BENCHES, help="run only these")
    args = p.parse_args()
    m = common.machine()
    print(f"machine: {common.machine_line(m)}")
    print(f"command: {common.command('run_all')}")
    failed, took = [], {}
    for name in args.only or BENCHES:
        argv = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        print(f"\n$ {' '.join(['python', *argv[1:]])}", flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(argv, check=False, timeout=900 if args.quick else 5400)
            ok = done.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        took[name] = time.perf_counter() - started
        if not ok:
            failed.append(name)

    rows = []
    for name in args.only or BENCHES:
        path = common.RESULTS / f"{name}.json"
        if name in failed or not path.exists():
            rows.append([name, "FAILED", "", "", "", "", "", ""])
            continue
        for r in json.loads(path.read_text())["summary"]:
            met = {True: "yes", False: "NO", None: "-"}[r["met"]]
            rows.append(
                [
                    name,
                    r["metric"],
                    r["ours"],
                    r["baseline"],
                    r["unit"],
                    f"{r['ratio']:.2f}x",
                    r["goal"],
                    met,
                ]
            )
    print(
        f"\nsummary ({'quick' if args.quick else 'full'} run; {sum(took.values()) / 60:.1f} min):"
    )
    common.print_table(
        rows, ["bench", "metric", "ours", "baseline", "unit", "ratio", "goal", "met"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
