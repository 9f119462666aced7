# The application image: the same pinned set as `make install` (constraints.txt).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SAGA_ENV=production KONBINI_VAR_DIR=/var/lib/saga-konbini
RUN apt-get update && apt-get install -y --no-install-recommends poppler-utils && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY . .
RUN pip install --no-cache-dir -c constraints.txt . \
 && useradd --system --home /var/lib/saga-konbini konbini \
 && mkdir -p /var/lib/saga-konbini && chown konbini /var/lib/saga-konbini
USER konbini
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "saga_konbini.wsgi:application"]
