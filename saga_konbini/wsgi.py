"""The web processes' entry point (gunicorn ``saga_konbini.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saga_konbini.settings")
application = get_wsgi_application()

# After setup (settings and apps loaded): a web process refuses the audit checkpoint's private key.
from audit.checkpoints import web_process_keys_check  # noqa: E402

web_process_keys_check()
