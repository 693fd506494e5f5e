#!/bin/bash
# sqlite3 builds a 100k-row database with indexes, runs grouping, join,
# window, JSON and update/delete queries and a VACUUM, plainly and under
# memf-run.  Query output, exit codes and the content of the resulting
# database (a checksum of .dump) must match.
#
# usage: sqlite.sh PATH-TO-memf-run
source "$(dirname "$0")/common.sh"
setup "$@"
require_prog sqlite3 sqlite3
check_memf_active

cat >"$WORK/load.sql" <<'SQL'
PRAGMA cache_size = -32000;
PRAGMA journal_mode = DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload BLOB, grp INTEGER);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t
SELECT x,
       (x * 2654435761) % 1000003,
       printf('name-%08d-%s', (x * 7919) % 100003, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26)),
       zeroblob(x % 200),
       x % 97
FROM c;
COMMIT;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
SELECT 'rows', count(*), sum(k), sum(length(name)), sum(length(payload)) FROM t;
SELECT grp, count(*), sum(k) % 1000000007, min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
SELECT name FROM t ORDER BY name DESC LIMIT 20;
SELECT a.id, b.id, a.k FROM t a JOIN t b ON b.k = a.k + 1 ORDER BY a.id LIMIT 50;
SELECT id, sum(k) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
FROM t WHERE grp = 3 ORDER BY id LIMIT 30;
UPDATE t SET name = upper(name) || '-' || id WHERE id % 3 = 0;
DELETE FROM t WHERE id % 7 = 0;
SELECT 'after', count(*), sum(length(name)) FROM t;
CREATE TABLE agg AS SELECT substr(name, 1, 9) AS pfx, group_concat(id) AS ids FROM t GROUP BY pfx;
SELECT 'agg', count(*), sum(length(ids)) FROM agg;
SELECT pfx, length(ids) FROM agg ORDER BY length(ids) DESC, pfx LIMIT 10;
SELECT json_group_array(id) FROM (SELECT id FROM t WHERE grp = 5 ORDER BY id LIMIT 100);
SELECT count(DISTINCT k), count(DISTINCT substr(name, 6, 4)) FROM t;
VACUUM;
PRAGMA integrity_check;
SELECT 'final', count(*) FROM t;
SQL

# each run gets its own database file
run_plain sqlite sqlite3 -batch -bail "$WORK/plain.db" ".read $WORK/load.sql"
run_memf sqlite sqlite3 -batch -bail "$WORK/memf.db" ".read $WORK/load.sql"
expect_rc sqlite plain 0
compare sqlite
# With the leak check on (MEMF_RUN_OPTIONS set): sqlite3 leaks nothing, so nothing is added.
[[ -z ${MEMF_RUN_OPTIONS+set} ]] || same_stderr sqlite

run_plain dump sqlite3 -batch "$WORK/plain.db" .dump
run_memf dump sqlite3 -batch "$WORK/memf.db" .dump
expect_rc dump plain 0
compare dump sha256sum
[[ -z ${MEMF_RUN_OPTIONS+set} ]] || same_stderr dump
