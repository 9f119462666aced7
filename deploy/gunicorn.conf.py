"""gunicorn settings for the web processes. Stateless: any number of them may run behind the proxy."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Rendering and signing PDFs is CPU work: one process per core, a few threads for I/O waits.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A kiosk call that takes longer than this is abandoned whole (DOMAIN.md, Yokohama 2023):
# the worker is restarted; the request's transaction rolls back; nothing of it is reused.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# No query strings or bodies in the access log: they may identify a session.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
