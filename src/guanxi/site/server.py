"""Running the app with a production-grade WSGI server (waitress: pure Python, any OS)
and the task queue's workers in the same process, so one command is all an operator starts."""

from __future__ import annotations

import logging
import signal

from django.core.management import call_command

log = logging.getLogger(__name__)


def prepare() -> None:
    """Migrate, collect static files, and build any index a killed bulk import left dropped (all
    no-ops when there is nothing to do)."""
    from guanxi.core.bulkload import indexes_restore

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    restored = indexes_restore()
    if restored:
        log.warning("built again %d index(es) a killed bulk import had dropped: %s", len(restored), restored)


def start_worker(*, workers: int | None = None):
    """Start the task queue's consumer (jobs and periodic schedules) in background threads."""
    from django.conf import settings
    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    # Register every app's tasks (the periodic schedules included), as `run_huey` does for `guanxi worker`.
    autodiscover_modules("tasks")
    options = dict(settings.HUEY.get("consumer", {}))
    if workers is not None:
        options["workers"] = workers
    options["worker_type"] = "thread"
    consumer = HUEY.create_consumer(**options)
    # The consumer takes over SIGTERM/SIGINT/SIGHUP for its own `run()` loop, which this process does not
    # run; keep the process's own handlers so that SIGTERM still stops the server (and Ctrl-C the worker).
    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.getsignal(signum) for signum in signals}
    consumer.start()
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    return consumer


def serve(*, host: str, port: int, threads: int = 8, with_worker: bool = True) -> None:
    import waitress
    from django.conf import settings

    from guanxi.wsgi import application

    consumer = start_worker() if with_worker else None
    try:
        # The TLS-terminating proxy in front tells us the scheme and the client's address;
        # waitress drops those headers unless they come from the proxy we trust.
        waitress.serve(application, host=host, port=port, threads=threads, ident="guanxi",
                       trusted_proxy=settings.TRUSTED_PROXY or None,
                       trusted_proxy_headers={"x-forwarded-proto", "x-forwarded-for"},
                       clear_untrusted_proxy_headers=True)
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
