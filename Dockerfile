# The application image for web, worker, beat and the one-shot migrate: the same pinned set as
# `make install` (constraints.txt), Python 3.11 as pyproject.toml requires.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    SAGA_ENV=production \
    KONBINI_VAR_DIR=/var/lib/saga-konbini
# poppler-utils: pdftoppm, used to check rendered certificates.
RUN apt-get update && apt-get install -y --no-install-recommends poppler-utils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first (a layer that changes only with pyproject.toml/constraints.txt), then the code.
# pyproject declares no packages (the code runs from /app), so this installs the dependencies only.
COPY pyproject.toml constraints.txt README.md ./
RUN pip install --no-cache-dir -c constraints.txt .
COPY . .
RUN useradd --system --home /var/lib/saga-konbini konbini \
 && mkdir -p /var/lib/saga-konbini && chown konbini /var/lib/saga-konbini
USER konbini
EXPOSE 8000
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "saga_konbini.wsgi:application"]
