#!/bin/sh
# Run once by the postgres image when it creates the primary: let the replica stream the WAL.
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >>"$PGDATA/pg_hba.conf"
