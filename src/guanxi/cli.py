"""The `guanxi` command: Django's management utility with Guanxi's settings."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    if len(sys.argv) > 1 and sys.argv[1] == "demo":
        # The demo is served over plain HTTP on localhost: no TLS redirect, no secure-only cookies.
        os.environ.setdefault("GUANXI_HTTPS", "false")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
