"""Time `guanxi generate` and show that memory does not grow with N.

    python bench/bench_generate.py                   # 1,000,000 CSV rows, 100,000 XLSX rows, a balance feed
    python bench/bench_generate.py --csv 200000 --xlsx 0 --jobs 1

Each run is a fresh `guanxi` process; wall time, CPU time (the command and its worker processes)
and the peak resident memory of the largest process are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GUANXI = str(Path(sys.executable).with_name("guanxi"))


def run(*args: str) -> tuple[float, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([GUANXI, "generate", *args], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux: the largest child so far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=int, default=1_000_000)
    parser.add_argument("--xlsx", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the files (printed)")
    options = parser.parse_args()
    os.environ.setdefault("GUANXI_DATA_DIR", tempfile.mkdtemp(prefix="guanxi-bench-"))
    jobs = ["--jobs", str(options.jobs)] if options.jobs else []
    folder = Path(tempfile.mkdtemp(prefix="guanxi-generate-"))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; files in {folder}")
    if options.csv:
        small = max(options.csv // 10, 1)
        for count in (small, options.csv):
            path = folder / f"customers-{count}.csv"
            wall, cpu, rss = run("customers", str(count), "--out", str(path), "--seed", "1", "--orgs",
                                 "B0101,C0102,C0103,B0201,C0202,C0203", *jobs)
            size = path.stat().st_size / 2**20
            print(f"CSV  {count:>9,} rows: {wall:6.1f} s wall, {cpu:6.1f} s CPU, peak RSS {rss:5.0f} MiB, "
                  f"{size:6.1f} MiB file")
        feed = folder / "balances.csv"
        wall, cpu, _rss = run("balances", "--from", str(path), "--out", str(feed), "--seed", "1",
                              "--date", "2026-11-30", "--officers", "manager1,manager2")
        print(f"feed {options.csv:>9,} rows: {wall:6.1f} s wall, {cpu:6.1f} s CPU")
    if options.xlsx:
        path = folder / f"customers-{options.xlsx}.xlsx"
        wall, cpu, rss = run("customers", str(options.xlsx), "--out", str(path), "--seed", "1", "--orgs", "B0101",
                             *jobs)
        print(f"XLSX {options.xlsx:>9,} rows: {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
              f"{path.stat().st_size / 2**20:6.1f} MiB file")
    if not options.keep:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
