"""One environment-driven settings module (see README, "Configuration").

``SAGA_ENV=production`` turns on the production rules: every secret must come from the
environment, DEBUG is off, cookies are secure and the kiosk simulator is off (turning DEBUG or the
simulator on is a start-up error). Without it the embedded defaults apply: SQLite and local folders
under ``var/``, no Redis needed.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host
from django.utils.translation import gettext_lazy as _

from saga_konbini.env import (
    env_bool,
    env_host_names,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_str,
    new_aes_key_spec,
)

BASE_DIR = Path(__file__).resolve().parent.parent
SAGA_ENV = env_str("SAGA_ENV", "development")
if SAGA_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"SAGA_ENV must be development or production, got {SAGA_ENV!r}")
PRODUCTION = SAGA_ENV == "production"

VAR_DIR = Path(env_str("KONBINI_VAR_DIR", str(BASE_DIR / "var")))
_DEV_SECRETS = None if PRODUCTION else VAR_DIR / "secrets"


def _dev_secret_file(name: str) -> Path | None:
    return None if _DEV_SECRETS is None else _DEV_SECRETS / name


SECRET_KEY = env_secret("DJANGO_SECRET_KEY", dev_file=_dev_secret_file("django_secret_key"))
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- Staff host names (saga_konbini/staff_hosts.py) -------------------------------------------
# The admin (/admin/) and the audit views (/audit/) answer only on these host names, the city's
# internal name for the server; everywhere else they are a plain 404. Empty: on every allowed
# host. Each name must also be in DJANGO_ALLOWED_HOSTS: one list says which hosts are served,
# and a name missing from it would turn the staff pages into 400s nobody could explain.
STAFF_HOSTS = env_host_names("STAFF_HOSTS")
for _staff_host in STAFF_HOSTS:
    if not validate_host(_staff_host, ALLOWED_HOSTS):
        raise ImproperlyConfigured(f"STAFF_HOSTS: {_staff_host!r} must also be in DJANGO_ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI / Redoc files served from our own static files: the docs page needs no CDN.
    "drf_spectacular_sidecar",
    "axes",
    # Staff sign in with a TOTP code as second factor (SPEC §9); staff/ holds login, enrolment,
    # recovery and create_staff. After django.contrib.auth and otp_totp: staff/admin.py replaces
    # their admin registrations.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "staff",
    "audit",
    "residents",
    "sync",
    "certificates",
    "kiosk_api",
    # The top layer (docs/architecture.md): what reads across the apps listed before it, the auditors'
    # /audit/ pages, the issuance reports by store chain, /metrics and the probes.
    "oversight",
]
# The stand-ins for the world outside (synthetic city, core-system simulator, test CA, kiosks, and
# the seed_demo, core_sim, kiosk and demo_logins commands) exist for demos, training and tests
# only: production does not install them, so none of their commands or screens can run there.
if not PRODUCTION:
    INSTALLED_APPS.append("simulators")

MIDDLEWARE = [
    # First: every later layer and every log line of the request sees the same X-Request-ID.
    "saga_konbini.logging.RequestIdMiddleware",
    # Next: the true client address and that request id become the defaults of every audit event
    # recorded while the request is served (audit/request_scope.py).
    "audit.request_context.RequestContextMiddleware",
    # Request latency per URL route name for /metrics (saga_konbini/metrics.py).
    "saga_konbini.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before sessions and authentication: /admin/ and /audit/ on a host not in STAFF_HOSTS are a
    # 404 before any admin code, session lookup or login lockout runs.
    "saga_konbini.staff_hosts.StaffHostMiddleware",
    # JSON errors and the body size limit for everything under /api/kiosk/v1/ (SPEC §3).
    "kiosk_api.middleware.KioskApiMiddleware",
    # Below the kiosk API's middleware, so that it sees a database outage first: 503, not 500.
    "saga_konbini.health.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Right after it: Japanese or English on every screen that is not a resident's (admin, audit).
    "saga_konbini.languages.StaffLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with a TOTP code. Then, with STAFF_OTP_REQUIRED, a
    # session signed in by password alone counts as anonymous everywhere but enrolment.
    "django_otp.middleware.OTPMiddleware",
    "staff.middleware.StaffOtpRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-axes must be last: it locks out repeated failed admin logins.
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # Static files (the admin's) are served by WhiteNoise in production; runserver serves them in development.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "saga_konbini.urls"
WSGI_APPLICATION = "saga_konbini.wsgi.application"

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
                # STAFF_LANGUAGES: the language switch of the admin and the audit views.
                "saga_konbini.languages.staff_languages",
            ],
        },
    },
]

# --- Database: SQLite under var/ by default, DATABASE_URL for PostgreSQL -------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (server, worker) share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
# The role that owns the tables (SPEC §6): `migrate --database owner` and `setup_roles` connect
# through it, the application never does. DATABASE_URL is then the application's role, which may
# only INSERT and SELECT on the audit log. Without DATABASE_OWNER_URL (the SQLite demo, which has no
# roles) both aliases are the same connection settings.
OWNER_DB_ALIAS = "owner"
_owner_url = env_str("DATABASE_OWNER_URL", "")
DATABASE_OWNER_SEPARATE = bool(_owner_url)
DATABASES[OWNER_DB_ALIAS] = (
    dj_database_url.parse(_owner_url, conn_max_age=0) if _owner_url else DATABASES["default"].copy()
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker; optional in development ---------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # Degrades to "no cache" while Redis is down: issuance never depends on it (saga_konbini/cache.py).
    CACHES = {"default": {"BACKEND": "saga_konbini.cache.TolerantRedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # An embedded broker for the fresh-clone demo: kombu's filesystem transport, no server needed.
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # The exchange tables; kombu's default is "control" in the working directory (the repo root).
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "Asia/Tokyo"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
SYNC_BEAT_SECONDS = env_int("SYNC_BEAT_SECONDS", 300, minimum=10)
# SPEC §6: signed audit checkpoints, also written as files outside the database.
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints")))
AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", 300, minimum=10)
# Where `audit_verify` keeps the newest checkpoint it proved, for its next --since-last run. In
# production it must be named, and be a folder the application cannot write: whoever could move
# that mark forward would have the daily run skip what they changed. Unset there, no mark is kept.
_verify_state = env_str("AUDIT_VERIFY_STATE_DIR", "" if PRODUCTION else str(VAR_DIR / "audit-verify"))
AUDIT_VERIFY_STATE_DIR = Path(_verify_state) if _verify_state else None
# SPEC §6: only the process that signs checkpoints holds AUDIT_SIGNING_KEY. The checkpoint task
# goes to a queue of its own, consumed by that one worker (docker-compose's "audit-signer"); the
# other workers, which also run the web's background jobs, never see the key.
AUDIT_SIGNING_QUEUE = "audit-signing"
CELERY_TASK_ROUTES = {"audit.tasks.audit_checkpoint_task": {"queue": AUDIT_SIGNING_QUEUE}}
CELERY_BEAT_SCHEDULE = {
    "sync-apply-pending-batches": {"task": "sync.tasks.sync_run_task", "schedule": float(SYNC_BEAT_SECONDS)},
    # SPEC §6: seal pending audit events and sign a checkpoint of the chain (audit/checkpoints.py).
    "audit-checkpoint": {
        "task": "audit.tasks.audit_checkpoint_task",
        "schedule": float(AUDIT_CHECKPOINT_SECONDS),
    },
    # SPEC §4: the card CA's revocation list, refreshed with the sync jobs.
    "kiosk-crl-refresh": {"task": "kiosk_api.tasks.crl_refresh_task", "schedule": float(SYNC_BEAT_SECONDS)},
    # SPEC §3: abandoned kiosk sessions void their unprinted issuances and drop stored documents.
    "kiosk-session-sweep": {"task": "kiosk_api.tasks.session_sweep_task", "schedule": 60.0},
}

# --- Authentication, sessions, security ----------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# SPEC §9: staff sign in with user name, password and a 6-digit TOTP code in one form. With this on
# (the default in production) the code is required, and a session signed in without one reaches
# nothing but the enrolment of an account that has no device yet; off (development, the demo), a
# code is optional, but one given must be right (staff/).
STAFF_OTP_REQUIRED = env_bool("STAFF_OTP_REQUIRED", PRODUCTION)
# The "issuer" of the otpauth:// URI: the name the authenticator app shows beside the account.
OTP_TOTP_ISSUER = "佐賀市コンビニ交付"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 1  # hours
# Two separate counters, each locking at AXES_FAILURE_LIMIT failures (a wrong password or a wrong
# or missing TOTP code alike): one per user name (guessing one account's password or code from
# many addresses) and one per true client address (trying many accounts from one place). The
# address is the true client's (SPEC §9, KONBINI_TRUSTED_PROXIES), so clients behind our proxy do
# not share one counter; a header from anyone else is ignored, so rotating it escapes nothing.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its start-up banner would open every command's output
# Lockouts count by the true client address (SPEC §9), the same one the audit log records.
AXES_CLIENT_IP_CALLABLE = "audit.request_context.client_address"
# A failed attempt's form data is kept with it: never the code (the password axes hides itself).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60, minimum=60)  # clerks: 30 minutes
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout, not absolute
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# The screens' language switch (Django's set_language) keeps the choice in this cookie.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# SPEC §9: the proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs; none
# by default). The client is the right-most forwarded address that is not one of them; audit
# events, rate limits, login lockouts and /metrics all use that address (audit/request_context.py).
KONBINI_TRUSTED_PROXIES = env_networks("KONBINI_TRUSTED_PROXIES", [])

# --- Internationalisation: Japanese first, English available ------------------------------
LANGUAGE_CODE = "ja"
# Every screen speaks Japanese and English. What residents see (the kiosk API's messages and the
# kiosks) speaks the languages of Saga's foreign residents too; those are named in their own script,
# the same on every screen, as a kiosk's language button shows them.
LANGUAGES = [
    ("ja", _("日本語")),
    ("en", _("English")),
    ("zh-hans", "中文(简体)"),
    ("ko", "한국어"),
    ("vi", "Tiếng Việt"),
    ("pt-br", "Português"),
    ("id", "Bahasa Indonesia"),
]
# The staff's and the public's other screens (admin, audit views, /verify/, sign-in) have complete
# catalogues in these only: a browser or a cookie asking for another language gets one of these
# (saga_konbini/languages.py).
STAFF_LANGUAGES = ("ja", "en")
# Paths whose screens are for residents at a kiosk: every language of LANGUAGES.
RESIDENT_LANGUAGE_PATHS = ("/api/kiosk/v1/", "/kiosk-simulator/")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST framework --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kiosk_api.parsers.KioskJSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "佐賀市証明書コンビニ交付 Kiosk API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Logging: one JSON object per line with the request id, never personal data ------------
# saga_konbini/logging.py: time, level, logger, message, request_id; 12+-digit runs are masked.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "saga_konbini.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # SQL with its parameters would carry personal data: never below WARNING.
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Metrics (saga_konbini/metrics.py): who may scrape /metrics --------------------------------
# Addresses or networks allowed without a token (the Prometheus server on the internal network),
# and an optional bearer token (METRICS_TOKEN or METRICS_TOKEN_FILE) for anyone else.
METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS", ["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if not METRICS_TOKEN and env_str("METRICS_TOKEN_FILE", ""):
    METRICS_TOKEN = env_secret("METRICS_TOKEN", dev_file=None)

# --- The product's own settings (SPEC references in comments) ----------------------------
# SPEC §5: the core-system feed's inbox; archive/ and rejected/ live inside it.
SYNC_INBOX_DIR = Path(env_str("SYNC_INBOX_DIR", str(VAR_DIR / "inbox")))
# Mirror freshness: /readyz and alerts complain when no batch was applied for this long.
SYNC_MAX_LAG_SECONDS = env_int("SYNC_MAX_LAG_SECONDS", 24 * 3600, minimum=60)

# My Number encryption at rest (AES-256-GCM). MY_NUMBER_KEYS is "kid:base64key,kid:base64key";
# the key named by MY_NUMBER_ACTIVE_KEY_ID encrypts, every listed key can decrypt (rotation).
# Never derived from SECRET_KEY: rotating one must not touch the other.
MY_NUMBER_KEYS = env_secret(
    "MY_NUMBER_KEYS", dev_file=_dev_secret_file("my_number_keys"), make=new_aes_key_spec
)
MY_NUMBER_ACTIVE_KEY_ID = env_str("MY_NUMBER_ACTIVE_KEY_ID", "")

# SPEC §2: service hours in Japan time; "00:00-24:00" is always open (tests, demos).
KONBINI_SERVICE_HOURS = env_str("KONBINI_SERVICE_HOURS", "06:30-23:00")
KONBINI_TAX_YEARS_OFFERED = env_int("KONBINI_TAX_YEARS_OFFERED", 3, minimum=1)
KONBINI_DEFAULT_FEE_YEN = env_int("KONBINI_DEFAULT_FEE_YEN", 200, minimum=0)
# SPEC §1: certificates from synthetic data carry 「見本」 unless an operator turns this off.
CERTIFICATE_SPECIMEN = env_bool("CERTIFICATE_SPECIMEN", True)
MAYOR_NAME = env_str("MAYOR_NAME", "坂井　英隆")
MUNICIPALITY_CODE = "41201"
# SPEC §9: the browser kiosk is for demos and training only.
KIOSK_SIMULATOR_ENABLED = env_bool("KIOSK_SIMULATOR_ENABLED", not PRODUCTION)
if PRODUCTION and KIOSK_SIMULATOR_ENABLED:
    # Its demo cards and terminal token would let anyone issue certificates from a browser.
    raise ImproperlyConfigured("KIOSK_SIMULATOR_ENABLED must be off in production (demos and training only)")
# The browser kiosk's demo cards and terminal token (seed_demo --cards writes them there), and the
# kiosk API it calls over HTTP ("" = this same server, as the browser reached it).
KIOSK_SIMULATOR_CARDS_DIR = Path(env_str("KIOSK_SIMULATOR_CARDS_DIR", str(VAR_DIR / "cards")))
KIOSK_SIMULATOR_API_BASE = env_str("KIOSK_SIMULATOR_API_BASE", "")

# SPEC §4: the trust anchors for user-authentication certificates (the My Number card's CA and the
# smartphone's, スマホ用電子証明書) and where each CA publishes its CRL, one source per CA. The demo's
# test CAs (simulators/jpki.py) write their files under KONBINI_PKI_DIR.
KONBINI_PKI_DIR = Path(env_str("KONBINI_PKI_DIR", str(VAR_DIR / "pki")))
KONBINI_TRUSTED_CA_FILES = [
    Path(p)
    for p in env_list(
        "KONBINI_TRUSTED_CA_FILES",
        [str(KONBINI_PKI_DIR / "jpki-test-ca.pem"), str(KONBINI_PKI_DIR / "jpki-test-smartphone-ca.pem")],
    )
]
if env_str("KONBINI_CRL_SOURCE", ""):
    # The single-CA name: silently ignoring it would leave the configured list unrefreshed.
    raise ImproperlyConfigured("KONBINI_CRL_SOURCE is now KONBINI_CRL_SOURCES (comma-separated, one per CA)")
KONBINI_CRL_SOURCES = env_list(
    "KONBINI_CRL_SOURCES",
    [str(KONBINI_PKI_DIR / "jpki-test-ca.crl"), str(KONBINI_PKI_DIR / "jpki-test-smartphone-ca.crl")],
)
# SPEC §8: the city's issuing key (ECDSA P-256) for the 2D code and the PDF signature.
KONBINI_SIGNING_DIR = Path(env_str("KONBINI_SIGNING_DIR", str(VAR_DIR / "signing")))
# SPEC §8: /verify/ answers for this many days after issue.
VERIFY_RETENTION_DAYS = env_int("VERIFY_RETENTION_DAYS", 90, minimum=1)
# SPEC §8: /verify/ is rate-limited per client address.
VERIFY_RATE_LIMIT_PER_MINUTE = env_int("VERIFY_RATE_LIMIT_PER_MINUTE", 20, minimum=1)

# --- Kiosk API (kiosk_api/) -----------------------------------------------------------------
# Issued PDFs wait for the kiosk's print encrypted at rest (AES-256-GCM), "kid:base64key,...";
# the first key (or KONBINI_DOCUMENT_ACTIVE_KEY_ID) encrypts. Documents live minutes, so
# rotating this key only affects documents in flight. Never derived from SECRET_KEY.
KONBINI_DOCUMENT_KEYS = env_secret(
    "KONBINI_DOCUMENT_KEYS", dev_file=_dev_secret_file("document_keys"), make=new_aes_key_spec
)
KONBINI_DOCUMENT_ACTIVE_KEY_ID = env_str("KONBINI_DOCUMENT_ACTIVE_KEY_ID", "")
# Request limits of the kiosk API: body size, calls per terminal per minute, failed card
# authentications per terminal and per certificate within KONBINI_AUTH_FAILURE_WINDOW seconds.
# Only attack-like failures (bad signature, malformed or untrusted certificate, reused challenge)
# count against a terminal; an expired, revoked or unlinked card counts against itself only.
KONBINI_API_MAX_BODY_BYTES = env_int("KONBINI_API_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
KONBINI_TERMINAL_REQUESTS_PER_MINUTE = env_int("KONBINI_TERMINAL_REQUESTS_PER_MINUTE", 120, minimum=1)
KONBINI_AUTH_FAILURES_PER_TERMINAL = env_int("KONBINI_AUTH_FAILURES_PER_TERMINAL", 10, minimum=1)
KONBINI_AUTH_FAILURES_PER_CERTIFICATE = env_int("KONBINI_AUTH_FAILURES_PER_CERTIFICATE", 5, minimum=1)
KONBINI_AUTH_FAILURE_WINDOW = env_int("KONBINI_AUTH_FAILURE_WINDOW", 600, minimum=10)
# A kiosk session's absolute lifetime from its start, besides its 180 s idle expiry (SPEC §3):
# calls every few seconds cannot keep one resident's session, and their data, open for hours.
KONBINI_SESSION_MAX_SECONDS = env_int("KONBINI_SESSION_MAX_SECONDS", 15 * 60, minimum=60)
