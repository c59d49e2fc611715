"""Running the app with a production-grade WSGI server (waitress: pure Python, any OS)."""

from __future__ import annotations

from django.core.management import call_command


def prepare() -> None:
    """Migrate and collect static files; both are no-ops when there is nothing to do."""
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def serve(*, host: str, port: int, threads: int = 8) -> None:
    import waitress

    from guanxi.wsgi import application

    waitress.serve(application, host=host, port=port, threads=threads, ident="guanxi")
