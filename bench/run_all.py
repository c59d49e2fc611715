"""Every benchmark at bank scale, one after the other: the figures the issues ask for.

    python bench/run_all.py                  # 1,000,000 rows where the issues say so (about an hour)
    python bench/run_all.py --scale 0.05     # the same at 5% of the rows, as a quick check
    python bench/run_all.py --only import,search

Each benchmark prints its own ratios to the baselines it measures in the same run; this
script only runs them in turn, passes their output through and says how long each took.
A benchmark that fails is reported and the exit status is 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (script, arguments with {n} for the scaled row count, full-scale rows)
BENCHMARKS = {
    "generate": ("bench_generate.py", ["--csv", "{n}", "--xlsx", "{m}"], 1_000_000),
    "import": ("bench_import.py", ["--rows", "{n}", "--db", "both"], 1_000_000),
    "library": ("bench_import_library.py", ["--rows", "{m}", "--db", "both"], 1_000_000),
    "search": ("bench_search.py", ["--rows", "{n}", "--db", "both"], 1_000_000),
    "segment": ("bench_segment.py", ["--rows", "{n}", "--db", "both"], 1_000_000),
}
OPTIONAL = {
    "rate": ("bench_rate.py", ["--rows", "{n}", "--db", "both"], 1_000_000),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full row counts (default 1)")
    parser.add_argument("--only", default="", help="comma-separated names: " + ", ".join([*BENCHMARKS, *OPTIONAL]))
    args = parser.parse_args()
    chosen = {**BENCHMARKS, **{k: v for k, v in OPTIONAL.items() if (HERE / v[0]).exists()}}
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in names if name not in chosen]
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
        chosen = {name: chosen[name] for name in names}
    failed = []
    for name, (script, template, full) in chosen.items():
        n = max(1000, int(full * args.scale))
        m = max(1000, int(100_000 * args.scale))  # the 100,000-row figures (XLSX, django-import-export)
        command = [sys.executable, str(HERE / script), *[a.format(n=n, m=m) for a in template]]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.call(command)
        print(f"=== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.monotonic() - started:.0f} s",
              flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
