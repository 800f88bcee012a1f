"""Every setting comes from the environment, with a default that runs the demo safely.

The README's configuration table and `.env.example` list the same variables; a test keeps
the three in step.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from arthur_panel.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_redis_url,
    env_secret,
    env_str,
)
from arthur_panel.prometheus import use_directory

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ARTHUR_VAR_DIR", str(BASE_DIR / "var"))).resolve()

SECRET_KEY = env_secret("DJANGO_SECRET_KEY", VAR_DIR / "secret_key")
DEBUG = env_bool("DJANGO_DEBUG", False)
# `demo` serves plain HTTP (make run, a trusted LAN); `production` assumes HTTPS in front (a
# reverse proxy, or Tailscale serve) and turns on what `manage.py check --deploy` asks for.
PROFILE = env_choice("DJANGO_ENV", "demo", ("demo", "production"))
if PROFILE == "production":
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off with DJANGO_ENV=production.")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        # Only behind a proxy that sets the header itself: a client could claim HTTPS otherwise.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Headers every response carries, in every profile (the pages need nothing they forbid):
# frames refused, the referrer only to the panel itself (its URLs name models and jobs), no
# content-type guessing, and a window of its own for every page that another site opens.
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Scripts, styles and everything else from the panel only, never inline (no `<script>` or
# `<style>` blocks, no `style=` attributes: a page sets styles from its static script); data:
# images for the API docs' icons; websockets to the panel's host (arthur_panel/security.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "cluster_app",
    "models_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before ServeStatic, which answers static files itself: they carry the headers too.
    "arthur_panel.security.PanelCSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Async-capable (WhiteNoise is sync-only, which would put every async view, the chat
    # proxy included, behind a hop to the one sync thread).
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # After authentication: the audit log says who acted, and records refused requests.
    "cluster_app.audit.middleware.audit_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "arthur_panel.urls"
ASGI_APPLICATION = "arthur_panel.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "libraries": {"panel": "arthur_panel.templatetags"},
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Kept open between requests: opening one costs the chat proxy milliseconds each time.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write the same file: WAL lets readers go on during a write, and
    # IMMEDIATE transactions wait for the lock up front instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run a real worker process, which must see the test database: a file, not memory.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): this many failures for an account, or from an address, lock
# it out for the cool-off; every refused try starts the cool-off again. Admins unlock under
# Admin > Axes > Access attempts (delete the entry) or with `manage.py axes_reset_username`.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "arthur_panel.lockout.locked_out"
# The socket's own address only: X-Forwarded-For is the client's to write.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# Checked wherever a password is set through a form (the admin, `manage.py changepassword`).
# Ten characters, not Django's eight: the panel guards the whole cluster, and a passphrase of
# three words passes.
PASSWORD_MIN_LENGTH = 10
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A browser's session lasts this long from the sign-in; with SESSION_EXPIRE_AT_BROWSER_CLOSE
# it also ends when the browser closes. "Log out everywhere" (the account page) ends them all.
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12, minimum=1) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # ServeStatic warns about a missing root
# Serve straight from the app and project folders: no collectstatic step before the demo runs.
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG

# Refused when it reaches another machine without a password (env_redis_url says how to set
# one). One Redis, three key spaces: the broker's under `celery:`, the channel layer's under
# `channels:`, the panel's own (cache, log lines, locks, worker heartbeats) under `arthur:`.
REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": "arthur"}
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "arthur_panel.channel_layer.WaitingRedisChannelLayer",
        # A receive's read blocks in Redis (1 s here, channel_layer.py); redis-py's default
        # socket timeout from version 8 is 5 s, too close to channels_redis's own 5 s. Allow
        # the wait with room to spare.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                   "prefix": "channels:"},
    }
}

# Websockets: open sockets per user in one web process, and the bytes waiting to be written
# to one socket before a client that does not read them is dropped (it reconnects).
WS_MAX_SOCKETS_PER_USER = env_int("WS_MAX_SOCKETS_PER_USER", 32, minimum=1)
WS_OUTBOX_BYTES = env_int("WS_OUTBOX_BYTES", 512 * 1024, minimum=64 * 1024)

# exo's API: the real cluster, or the simulator `make run` starts when this is unset.
EXO_API_URL = env_str("EXO_API_URL", "http://127.0.0.1:52415")
EXO_TIMEOUT = env_float("EXO_TIMEOUT", 5.0, minimum=0.1)
EXO_RETRIES = env_int("EXO_RETRIES", 2)
CLUSTER_POLL_SECONDS = env_float("CLUSTER_POLL_SECONDS", 2.0, minimum=0.2)
# Nodes silent this long (exo unreachable, or the node gone from its state) count as offline.
NODE_OFFLINE_SECONDS = env_int("NODE_OFFLINE_SECONDS", 30, minimum=1)
INSTANCE_LOAD_TIMEOUT = env_int("INSTANCE_LOAD_TIMEOUT", 1800, minimum=5)
# Health checks: how often beat runs them, and where each node finds ibv_devinfo (else on PATH).
HEALTH_CHECK_SECONDS = 60.0
# The doctor's checks of the deployment (database, Redis, workers, versions) change rarely.
DOCTOR_SECONDS = 300.0
IBV_DEVINFO_PATH = env_str("IBV_DEVINFO_PATH", "") or "/usr/bin/ibv_devinfo"

# GET /metrics: scrapers allowed without an API key (addresses or CIDR networks; none by
# default), and the directory where every process of this machine (web, workers, the log
# follower) keeps its counters for the scrape to add up; set here, before any app counts.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_ADDRESSES")
PROMETHEUS_MULTIPROC_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR",
                                        str(VAR_DIR / "prometheus"))).resolve()
use_directory(PROMETHEUS_MULTIPROC_DIR)

# The Hugging Face Hub, or the hub simulator `make run` starts when this is unset.
HF_ENDPOINT = env_str("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
HF_TOKEN = env_str("HF_TOKEN", "")
# Where downloads land on a node whose inventory entry names no models directory: <here>/<node>.
MODELS_DIR = Path(env_str("MODELS_DIR", str(VAR_DIR / "models"))).resolve()
# A download with no new byte for this long is retried (with backoff, DOWNLOAD_RETRIES times).
DOWNLOAD_STALL_SECONDS = env_float("DOWNLOAD_STALL_SECONDS", 60.0, minimum=0.1)
DOWNLOAD_RETRIES = env_int("DOWNLOAD_RETRIES", 5)
# A download fetches this many byte ranges at once, over this many files at most: a CDN that
# caps each connection (the Hub's does) gives a file as much as the line carries.
DOWNLOAD_CONNECTIONS = env_int("DOWNLOAD_CONNECTIONS", 8, minimum=1)
DOWNLOAD_FILES_AT_ONCE = env_int("DOWNLOAD_FILES_AT_ONCE", 4, minimum=1)

# A node's worker silent this long shows as offline, and jobs for it say they wait for it
# (each worker beats three times as often).
WORKER_OFFLINE_SECONDS = env_int("WORKER_OFFLINE_SECONDS", 15, minimum=2)
# A running job whose worker has not reported for this long is handed to another worker.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60, minimum=5)
JOB_RETENTION_DAYS = env_int("JOB_RETENTION_DAYS", 30, minimum=1)
# Audit entries older than this are deleted (with the jobs, hourly).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365, minimum=1)
# Jobs one user may have queued, running or paused at once (each kind may allow fewer).
JOB_MAX_ACTIVE_PER_USER = env_int("JOB_MAX_ACTIVE_PER_USER", 20, minimum=1)

# What a kWh of electricity costs (USD): model benchmarks turn the energy exo measured into a
# cost per million tokens at this price.
ELECTRICITY_PRICE_PER_KWH = env_float("ELECTRICITY_PRICE_PER_KWH", 0.30, minimum=0.0)

# The chat proxy's limits: answers no longer than this, bodies no bigger.
CHAT_MAX_TOKENS = env_int("CHAT_MAX_TOKENS", 32768, minimum=1)
CHAT_MAX_REQUEST_BYTES = env_int("CHAT_MAX_REQUEST_BYTES", 4 * 1024 * 1024, minimum=1024)
# Rate limits of each user, over all their keys and their browser (0: none); a key may set
# narrower ones of its own on the Keys page.
RATE_CHAT_REQUESTS_PER_MINUTE = env_int("RATE_CHAT_REQUESTS_PER_MINUTE", 300, minimum=0)
RATE_CHAT_TOKENS_PER_DAY = env_int("RATE_CHAT_TOKENS_PER_DAY", 0, minimum=0)
RATE_API_REQUESTS_PER_MINUTE = env_int("RATE_API_REQUESTS_PER_MINUTE", 600, minimum=0)
RATE_STREAMS_PER_USER = env_int("RATE_STREAMS_PER_USER", 4, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = CHAT_MAX_REQUEST_BYTES

# Alerts: the panel's address for links in notices (https://panel.example.com; none when
# blank), how long a delivery may take, its retries (doubling from ALERT_RETRY_SECONDS, at most
# 10 min apart) and how long resolved alerts stay listed.
PANEL_URL = env_str("PANEL_URL", "").rstrip("/")
ALERT_EVALUATE_SECONDS = env_float("ALERT_EVALUATE_SECONDS", CLUSTER_POLL_SECONDS, minimum=0.2)
ALERT_TIMEOUT = env_float("ALERT_TIMEOUT", 10.0, minimum=0.5)
ALERT_RETRY_SECONDS = env_float("ALERT_RETRY_SECONDS", 10.0, minimum=0.1)
ALERT_DELIVERY_ATTEMPTS = env_int("ALERT_DELIVERY_ATTEMPTS", 6, minimum=1)
ALERT_RETENTION_DAYS = env_int("ALERT_RETENTION_DAYS", 90, minimum=1)
# Email alert channels go through Django's email settings (SMTP).
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "arthur-panel@localhost")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")

CELERY_BROKER_URL = REDIS_URL
# JSON only: a pickled message would run code chosen by whoever can write to the broker.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = CELERY_EVENT_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True  # results live on the Job row, not in a result backend
# A job is acknowledged only when it finished; a worker that dies hands it back to the queue.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Downloads run for hours: redelivery after a lost worker is handled by job leases instead.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 12 * 3600,
                                   "global_keyprefix": "celery:"}
# Beat's work is control work: its own workers (`-Q control`) run it, never behind user jobs.
CELERY_TASK_ROUTES = {f"cluster_app.tasks.{name}": {"queue": "control"} for name in (
    "jobs_recover_task", "jobs_prune_task", "cluster_poll_task", "exo_status_fanout_task",
    "gpu_fanout_task", "net_fanout_task", "health_run_task", "doctor_run_task",
    "alerts_evaluate_task", "alerts_prune_task", "alert_deliver_task")}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "jobs-recover": {"task": "cluster_app.tasks.jobs_recover_task",
                     "schedule": float(min(15, JOB_LEASE_SECONDS))},
    "jobs-prune": {"task": "cluster_app.tasks.jobs_prune_task", "schedule": 3600.0},
    # A poll that could not start within one interval is dropped, not queued behind others.
    "cluster-poll": {"task": "cluster_app.tasks.cluster_poll_task",
                     "schedule": CLUSTER_POLL_SECONDS,
                     "options": {"expires": CLUSTER_POLL_SECONDS}},
    # Each node that reads its own GPUs (GAMMA) does so on its worker, as often as exo is polled.
    "gpu-read": {"task": "cluster_app.tasks.gpu_fanout_task", "schedule": CLUSTER_POLL_SECONDS,
                 "options": {"expires": CLUSTER_POLL_SECONDS}},
    # Each node's worker reads its network interfaces' counters, for throughput charts.
    "net-read": {"task": "cluster_app.tasks.net_fanout_task", "schedule": CLUSTER_POLL_SECONDS,
                 "options": {"expires": CLUSTER_POLL_SECONDS}},
    # Each exo node's worker reads its exo process (pid, uptime, version) for the node's row.
    "exo-status": {"task": "cluster_app.tasks.exo_status_fanout_task", "schedule": 15.0,
                   "options": {"expires": 15.0}},
    "health-checks": {"task": "cluster_app.tasks.health_run_task",
                      "schedule": HEALTH_CHECK_SECONDS,
                      "options": {"expires": HEALTH_CHECK_SECONDS}},
    "doctor": {"task": "cluster_app.tasks.doctor_run_task", "schedule": DOCTOR_SECONDS,
               "options": {"expires": DOCTOR_SECONDS}},
    "alerts-evaluate": {"task": "cluster_app.tasks.alerts_evaluate_task",
                        "schedule": ALERT_EVALUATE_SECONDS,
                        "options": {"expires": ALERT_EVALUATE_SECONDS}},
    "alerts-prune": {"task": "cluster_app.tasks.alerts_prune_task", "schedule": 3600.0},
}

# Which nodes' queues this worker consumes (`node.<name>`, or `node.<name>.control` for a
# control worker); one worker of each lane serves all in the demo.
WORKER_NODES = env_list("WORKER_NODES", ["alpha", "beta", "gamma"])
CELERY_WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 4, minimum=1)


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cluster_app.access.tokens.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cluster_app.access.gate.RolePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["cluster_app.access.throttle.ApiRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["arthur_panel.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "arthur_panel.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "arthur_panel.schema.ArthurAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ARTHUR Panel API",
    "DESCRIPTION": "Jobs, nodes, models and the cluster behind the panel.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["cluster_app.access.gate.RolePermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "arthur_panel.schema.add_proxy_paths"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"()": "arthur_panel.redaction.RedactingFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
