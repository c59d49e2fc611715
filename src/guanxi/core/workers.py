"""Worker processes for CPU-heavy bulk work (validating an import's rows), safe to start from any process.

From a single-threaded command the workers are forked: they start at once and share the
command's loaded code and tables. Forking a process whose other threads may hold locks (the
web server, the job runner behind the upload page) is unsafe, so there they are started afresh
("spawn": a new interpreter that sets Django up, about a second), and what they need reaches
them pickled.

This module imports no models, so that a spawned worker can load it before Django is set up.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import threading

from django.utils import translation


def single_threaded() -> bool:
    """Whether this process runs one thread only, and so may fork."""
    return threading.current_thread() is threading.main_thread() and threading.active_count() == 1


def process_pool(workers: int, *, init: str, initargs: tuple = (), niceness: int = 0):
    """A pool of `workers` processes, each set up by calling the function named `init` (dotted path)
    with `initargs` once Django is ready, in the caller's language and `niceness` lower in priority.

    Give `initargs` as plain values (pickle anything holding model instances yourself): a spawned
    worker receives them before Django is set up. Send the work as `pool.apply_async(call, (name,
    *args))`, the function by its dotted name: a worker that could not be set up then fails each
    task with the reason, where a pool would otherwise start it again and again, for ever.
    """
    fork = single_threaded() and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    return context.Pool(workers, initializer=_start, initargs=(init, initargs, niceness, translation.get_language()))


_failed: BaseException | None = None  # why this worker could not be set up


def _start(init: str, initargs: tuple, niceness: int, language: str | None) -> None:
    global _failed
    try:
        if niceness:
            os.nice(niceness)
        from django.apps import apps

        if not apps.ready:  # spawned: a new interpreter, whose environment names the settings
            import django

            django.setup()
        if language:
            translation.activate(language)  # messages (an import's error reasons) in the caller's language
        _function(init)(*initargs)
        # What the worker holds now (Django, the code tables: some 300,000 objects) stays for its
        # whole life: out of the collector's sight, its full collections no longer walk them
        # (measured: 0.37 s of collections per 100,000 validated rows became 0.05 s).
        gc.freeze()
        # And the collector runs once after each task (`call`) rather than during it, where it
        # walked the task's young objects again and again (validating 100,000 rows: 8% of the time).
        gc.disable()
    except Exception as exc:
        _failed = exc


def _function(path: str):
    module, _dot, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def call(path: str, *args):
    """Run the function named `path` (dotted) in a worker of `process_pool`."""
    if _failed is not None:
        raise RuntimeError(f"the worker process could not be set up: {_failed!r}") from _failed
    try:
        return _function(path)(*args)
    finally:
        gc.collect()  # what the task left in cycles (a refused row's ValidationError holds itself)
