import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saga_konbini.settings")

app = Celery("saga_konbini")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
