"""Settings of the example shop: sessions, django-prometheus, and the
active-users middleware. No database: sessions are signed cookies."""
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-the-pulse-example-not-for-production")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.sessions",
    "django_prometheus",
    "shop",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "shop.middleware.ActiveUsersMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "djangosite.urls"
WSGI_APPLICATION = "djangosite.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
PROMETHEUS_EXPORT_MIGRATIONS = False  # there is no database

# Where pulse serve runs, for the page's live widget.
PULSE_URL = os.environ.get("PULSE_URL", "http://localhost:8080")
# The active-users window: distinct sessions seen in the last 5 minutes.
ACTIVE_USERS_WINDOW = float(os.environ.get("ACTIVE_USERS_WINDOW", "300"))
