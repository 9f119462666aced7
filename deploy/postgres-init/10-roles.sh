#!/bin/sh
# Run once by the postgres image, on an empty data folder, as the owner ("konbini"): the login roles
# of the application and of the auditors, with their passwords from Docker secrets. They own
# nothing and get their rights from `manage.py setup_roles` (docker-compose's "migrate").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$(cat /run/secrets/postgres_app_password)" \
  -v auditor_password="$(cat /run/secrets/postgres_auditor_password)" <<'SQL'
CREATE ROLE konbini_app LOGIN PASSWORD :'app_password';
CREATE ROLE konbini_auditor LOGIN PASSWORD :'auditor_password';
SQL
