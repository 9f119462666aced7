#!/bin/sh
# The application containers' entrypoint. PostgreSQL's password arrives as a Docker secret file;
# libpq reads PGPASSWORD, so the file is read here and never written into an image or a compose
# file. Everything else (DJANGO_SECRET_KEY_FILE, MY_NUMBER_KEYS_FILE, ...) the settings read
# themselves.
set -eu
if [ -n "${PGPASSWORD_FILE:-}" ]; then
  PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
  export PGPASSWORD
fi
exec "$@"
