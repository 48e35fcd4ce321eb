#!/bin/sh
# The Temporal server's databases on PostgreSQL, made and brought up to the schema of the
# admin tools' version (the server's): deploy/k8s/22-temporal.yaml (a Job) and
# docker-compose.scale.yml (a one-shot service the servers wait for) run this same script, in
# temporalio/admin-tools. Every step leaves what is already there: run it again before each
# upgrade of the servers. The connection comes from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER
# and SQL_PASSWORD (temporal-sql-tool's own variables).
set -eu
for db in temporal temporal_visibility; do
  case $db in
  temporal) schema=postgresql/v12/temporal ;;
  *) schema=postgresql/v12/visibility ;;
  esac
  temporal-sql-tool --db "$db" create-database
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema --schema-name "$schema"
done
