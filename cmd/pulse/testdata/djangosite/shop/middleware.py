"""Active users: distinct sessions seen in the last few minutes, as a
Prometheus gauge that pulse serve scrapes and broadcasts live."""
import secrets
import threading
import time

from django.conf import settings
from prometheus_client import Gauge

_lock = threading.Lock()
_seen = {}  # visitor id -> last time seen (monotonic seconds)


def _active():
    cutoff = time.monotonic() - settings.ACTIVE_USERS_WINDOW
    with _lock:
        for visitor in [v for v, t in _seen.items() if t < cutoff]:
            del _seen[visitor]
        return len(_seen)


ACTIVE_USERS = Gauge("active_users", "Distinct sessions seen in the last 5 minutes")
ACTIVE_USERS.set_function(_active)  # computed at each scrape


class ActiveUsersMiddleware:
    """Counts the session of every page view (not the scrapes of /metrics)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/metrics":
            visitor = request.session.setdefault("visitor", secrets.token_hex(8))
            with _lock:
                _seen[visitor] = time.monotonic()
        return self.get_response(request)
