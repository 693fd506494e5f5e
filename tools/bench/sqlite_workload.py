"""Writes the SQL script for the sqlite3 benchmark workload.

The script runs in an in-memory database: many single-row INSERT
statements inside transactions (each parsed and prepared by the shell, as
a client sends them), bulk inserts, index builds, indexed point and range
lookups, an update and a delete that reshape the indexes, and grouping
queries.  Values are derived from the row number so every run does the
same work.  Usage: sqlite_workload.py [SCALE] > script.sql
"""
import sys


def script(scale=1.0):
    single = max(100, int(60000 * scale))
    bulk = max(1000, int(150000 * scale))
    lookups = max(100, int(150000 * scale))
    out = []
    w = out.append
    w("PRAGMA cache_size=-262144;")
    w("CREATE TABLE item(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, body BLOB);")
    w("CREATE INDEX item_k ON item(k);")
    w("BEGIN;")
    for i in range(single):
        k = (i * 2654435761) % 50000
        name = "item-%d-%x" % (i, (i * 40503) & 0xFFFF)
        w("INSERT INTO item(k, name, body) VALUES (%d, '%s', zeroblob(%d));"
          % (k, name, 16 + (i * 7) % 240))
        if i % 5000 == 4999:
            w("COMMIT;")
            w("BEGIN;")
    w("COMMIT;")
    w("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
      "INSERT INTO item(k, name, body) SELECT (x * 2246822519) %% 50000, "
      "'bulk-' || x || '-' || hex(x * 31), zeroblob(16 + (x * 13) %% 400) FROM c;" % bulk)
    w("CREATE INDEX item_name ON item(name);")
    w("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
      "SELECT sum((SELECT count(*) FROM item WHERE k = (x * 7919) %% 50000)) FROM c;"
      % lookups)
    w("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
      "SELECT sum((SELECT length(body) FROM item WHERE name = 'bulk-' || x || '-' || hex(x * 31))) "
      "FROM c;" % (lookups // 2))
    w("SELECT count(*), sum(length(body)) FROM item WHERE k BETWEEN 1000 AND 9000;")
    w("UPDATE item SET name = name || '-u', k = k + 1 WHERE k % 7 = 0;")
    w("DELETE FROM item WHERE k % 5 = 0;")
    w("SELECT k % 100 AS g, count(*), max(name), sum(length(body)) FROM item "
      "GROUP BY g ORDER BY 3 DESC LIMIT 5;")
    w("SELECT name FROM item ORDER BY name DESC LIMIT 3;")
    w("SELECT count(DISTINCT substr(name, 1, 8)) FROM item;")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(script(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0))
