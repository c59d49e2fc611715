"""Shared helpers for the benchmark scripts in bench/ (not a test module).

A benchmark script runs in two roles:

* the *parent* (what you start): parses the options, makes the input files, and for each
  database asked for (``--db sqlite``, ``--db postgres`` or both) creates a scratch database
  and starts itself again as a *child* with ``GUANXI_DATABASE_URL`` / ``GUANXI_DATA_DIR``
  pointing at it; the scratch database is removed afterwards (unless ``--keep``).
* the *child* (``--child`` on the command line): calls :func:`django_setup` (settings are read
  from the environment before ``django.setup()``, then ``migrate``), does the work, prints.

A scratch database is an SQLite file in a fresh temporary folder, or a fresh PostgreSQL database
``guanxi_bench_<random>`` made on the server named by ``GUANXI_BENCH_PG`` (default
``postgres://postgres@127.0.0.1:5432/postgres``) and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

PG_ADMIN_URL = os.environ.get("GUANXI_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
GUANXI = str(Path(sys.executable).with_name("guanxi"))
DATABASES = ("sqlite", "postgres")
# The org tree every benchmark loads: a head office with branches B1..B8.
ORG_CODES = tuple(f"B{n}" for n in range(1, 9))
RESULT_PREFIX = "@@result "  # a child's machine-readable line for its parent


# ---------------------------------------------------------------------------
# Scratch databases (parent side)
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(kind: str, *, keep: bool = False) -> Iterator[dict[str, str]]:
    """A fresh, empty database; yields the environment variables that point Guanxi at it."""
    folder = Path(tempfile.mkdtemp(prefix=f"guanxi-bench-{kind}-"))
    env = {"GUANXI_DATA_DIR": str(folder), "GUANXI_HTTPS": "false", "DJANGO_SETTINGS_MODULE": "guanxi.settings",
           "GUANXI_SECRET_KEY": "bench-" + secrets.token_hex(16)}
    name = None
    try:
        if kind == "sqlite":
            env["GUANXI_DATABASE_URL"] = f"sqlite:///{folder / 'guanxi.sqlite3'}"
        elif kind == "postgres":
            import psycopg

            name = f"guanxi_bench_{secrets.token_hex(4)}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            env["GUANXI_DATABASE_URL"] = f"{base}/{name}"
        else:
            raise ValueError(f"unknown database kind {kind!r}")
        yield env
    finally:
        if keep:
            print(f"kept {kind} scratch database: {env.get('GUANXI_DATABASE_URL')} (data dir {folder})")
        else:
            if name:
                import psycopg

                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(folder, ignore_errors=True)


def run_child(script: str, args: Sequence[str], env: dict[str, str]) -> list[dict]:
    """Run ``script --child …`` with `env` added; its output is passed through, and the lines it
    marked with :data:`RESULT_PREFIX` are returned parsed (JSON)."""
    results = []
    with subprocess.Popen([sys.executable, script, *args], env={**os.environ, **env}, stdout=subprocess.PIPE,
                          text=True, bufsize=1) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(RESULT_PREFIX):
                results.append(json.loads(line[len(RESULT_PREFIX):]))
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
    if child.returncode:
        raise SystemExit(f"{Path(script).name} {' '.join(args)}: the child failed (exit {child.returncode})")
    return results


def emit(result: dict) -> None:
    """Hand a result to the parent (see :func:`run_child`)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def generate_customers(count: int, out: Path, *, seed: int = 1, orgs: Sequence[str] = ORG_CODES) -> float:
    """Write a synthetic registration CSV with `guanxi generate`; returns the wall seconds."""
    env = {**os.environ, "GUANXI_DATA_DIR": str(out.parent), "GUANXI_HTTPS": "false"}
    env.setdefault("GUANXI_SECRET_KEY", "bench-generate")
    started = time.perf_counter()
    subprocess.run([GUANXI, "generate", "customers", str(count), "--out", str(out), "--seed", str(seed),
                    "--orgs", ",".join(orgs)], check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def source_version() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git commands)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
                                 text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "source: unknown (no git)"
    extra = f" + uncommitted changes in {len(changed)} file(s) under src/" if changed else ""
    return f"source: commit {commit}{extra}"


def db_choices(value: str) -> list[str]:
    return list(DATABASES) if value == "both" else [value]


# ---------------------------------------------------------------------------
# Django in the child
# ---------------------------------------------------------------------------


def django_setup(*, migrate: bool = True) -> str:
    """Set Django up against the database named in the environment; returns its vendor."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    os.environ.setdefault("GUANXI_HTTPS", "false")
    if "GUANXI_DATABASE_URL" not in os.environ:
        raise SystemExit("no GUANXI_DATABASE_URL: run the script without --child")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
    return connection.vendor


def load_org_units(codes: Sequence[str] = ORG_CODES) -> dict:
    """A head office HO with the branches `codes` under it; returns {code: OrgUnit}."""
    from guanxi.core.services import orgunit_save

    head, _changed = orgunit_save(acting_user=None, code="HO", name="总行", kind="head_office", parent=None)
    units = {"HO": head}
    for number, code in enumerate(codes, 1):
        units[code], _changed = orgunit_save(acting_user=None, code=code, name=f"第{number}支行", kind="branch",
                                             parent=head)
    return units


def make_user(username: str, role: str, org_unit=None, market_line: str = ""):
    from guanxi.core.models import User

    user, _created = User.objects.get_or_create(
        username=username, defaults={"role": role, "org_unit": org_unit, "market_line": market_line,
                                     "name": username})
    return user


def database_size_mib() -> float | None:
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "sqlite":
        path = Path(settings.DATABASES["default"]["NAME"])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0] / 2**20
    return None


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (e.g. the importer's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Timer:
    """``with Timer() as t: …`` then ``t.seconds`` (wall) and ``t.cpu`` (this process and its finished
    children; not the database server's)."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = _cpu_seconds() - self._cpu


def time_calls(func: Callable, arguments: Sequence) -> list[float]:
    """Milliseconds of ``func(argument)`` for each argument, in order."""
    out = []
    clock = time.perf_counter
    for argument in arguments:
        started = clock()
        func(argument)
        out.append((clock() - started) * 1000)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min)"


def print_table(headers: Sequence[str], rows: Sequence[Sequence], *, indent: str = "  ") -> None:
    """A small aligned table: text columns left-aligned, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows) if rows else False
               for i in range(len(headers))]

    def line(values):
        return indent + "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric,
                                                                                   strict=True)).rstrip()

    print(line([str(h) for h in headers]))
    print(indent + "  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
