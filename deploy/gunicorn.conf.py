"""gunicorn settings for the web processes. Stateless: any number of them may run behind the proxy."""

import gc
import multiprocessing
import os
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Rendering and signing a PDF is CPU work that holds Python's GIL: threads of one process would
# queue behind each other's renders (measured with bench/kiosk_load.py at 2 kiosks on 2 cores:
# issuance p95 2.4× the in-process time with 4 threads per process, 1.6× with these settings).
# Single-threaded processes instead, two per core, so that one renders while another waits on
# PostgreSQL. Sync workers need a proxy that buffers slow clients: deploy/nginx.conf does.
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count()))
worker_class = "sync"
# A kiosk call that takes longer than this is abandoned whole (a timeout that released only a lock
# once printed the next applicant's file for someone else):
# the worker is restarted; the request's transaction rolls back; nothing of it is reused.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# No query strings or bodies in the access log: they may identify a session.
# The response's X-Request-ID ties the access line to the application's log lines.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
# gunicorn's runtime control socket (default ~/.gunicorn/gunicorn.ctl) is not used by this
# deployment; off, so that several gunicorn instances on one host do not fight over one path.
control_socket_disable = True
# gunicorn's own error log in the same JSON lines as the application (saga_konbini/logging.py).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "saga_konbini.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def post_worker_init(worker: Any) -> None:
    """Before a new worker serves: warm it (certificates/warmup.py), then freeze what it holds.

    Everything loaded by now (Django, the fonts, the signer) lives as long as the process. Frozen,
    it is out of the garbage collector's reach: a full collection then walks only what requests
    create, instead of pausing a request for tens of milliseconds to walk all of it.
    """
    from certificates.warmup import warm_up

    warm_up()
    gc.freeze()


# /metrics sums every worker process through files in PROMETHEUS_MULTIPROC_DIR
# (saga_konbini/metrics.py). Files of a previous run would be counted again: empty the folder
# when the arbiter starts, and tell the client when a worker exits so its gauges are dropped.
def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
