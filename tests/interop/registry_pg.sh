#!/bin/sh
# registry_pg.sh: the registry's one table of cases (tests/unit/
# test_registry.c) on the postgresql driver, against a PostgreSQL this test
# starts (tests/pg_harness.inc).
set -eu
. "$CERTKIT_SRC/tests/pg_harness.inc"
pgh_start
CERTKIT_TEST_PG=$PGH_ADMIN "$CERTKIT_BUILD/tests/test_registry"
