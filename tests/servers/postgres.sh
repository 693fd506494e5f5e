#!/bin/bash
# PostgreSQL 15 (Debian's build, named by path: other builds may come first on PATH) under glibc,
# memf and LeakSanitizer: initdb and the server with the allocator preloaded, on a free port of
# 127.0.0.1; pgbench -i -s 2, fixed queries (updates, sorts, aggregates) whose results must match
# glibc's, then pgbench -c 4 -j 2 -t 500 with no failed transaction and its invariant (the balance sums
# of accounts, tellers, branches and history agree); pg_ctl stop, with no backend lost to a
# signal, memf's report at exit from the postmaster and no memf error in the server's log; the
# leaks memf finds are checked against LeakSanitizer's (below).
#
# Postgres refuses to run as root: as root, the server runs as nobody.
#
# usage: postgres.sh PATH-TO-libmemf.so
source "$(dirname "$0")/common.sh"
setup_servers "$@"
PGBIN=/usr/lib/postgresql/15/bin
for prog in initdb pg_ctl postgres; do require "$PGBIN/$prog" postgresql-15; done
for prog in pgbench psql; do require "$PGBIN/$prog" postgresql-client-15; done

as_server_user() {
    if [[ $EUID == 0 ]]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

if [[ $EUID == 0 ]]; then
    as_server_user test -r "$MEMF_LIB" || fail "nobody cannot read $MEMF_LIB"
fi

CLIENT_LIMIT=120

sql() {
    timeout "$CLIENT_LIMIT" "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
        -U postgres -d postgres "$@"
}

# Deterministic work on the freshly initialised tables: updates touching a third of the rows,
# a sort, a grouped aggregate over a join, a temporary table, string building.
cat >"$WORK/fixed.sql" <<'SQL'
update pgbench_accounts set abalance = abalance + (aid * 7919) % 1000 - 500 where aid % 3 = 0;
update pgbench_accounts set filler = repeat(md5(aid::text), 2) where aid % 10 = 1;
select sum(abalance), count(*) from pgbench_accounts;
select bid, sum(abalance), count(*), md5(string_agg(aid::text, ',' order by aid))
  from pgbench_accounts group by bid order by bid;
select a.aid, a.abalance, b.bid from pgbench_accounts a join pgbench_branches b using (bid)
  order by a.abalance desc, a.aid limit 10;
create temp table t as
  select aid % 1000 as k, array_agg(abalance order by aid) as vals from pgbench_accounts group by 1;
select count(*), sum(cardinality(vals)), md5(string_agg(vals::text, ';' order by k)) from t;
select md5(string_agg(filler, '' order by aid)) from pgbench_accounts where aid % 10 = 1;
update pgbench_accounts set abalance = 0;
SQL

run_mode() {
    local mode=$1
    local dir=$WORK/$mode
    local result=$WORK/$mode.result
    port=$(free_port)
    mkdir -p "$dir"
    [[ $EUID == 0 ]] && chown nobody "$dir"
    local env
    env=$(preload_env "$mode")
    # shellcheck disable=SC2086
    as_server_user $env timeout 120 "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
        { show_tail "$dir/initdb.log"; fail "initdb ($mode) failed"; }
    # shellcheck disable=SC2086
    as_server_user $env timeout 120 "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c log_min_messages=info" \
        start >"$dir/pg_ctl.log" 2>&1 ||
        { show_tail "$dir/server.log"; fail "pg_ctl start ($mode) failed"; }
    local master
    master=$(head -n 1 "$dir/data/postmaster.pid")
    STARTED_PIDS+=("$master")
    check_preload "$mode" "$master"

    timeout "$CLIENT_LIMIT" "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s 2 postgres \
        >"$dir/init.out" 2>&1 || { cat "$dir/init.out" >&2; fail "pgbench -i ($mode) failed"; }
    sql -f "$WORK/fixed.sql" >>"$result" 2>"$dir/fixed.err" ||
        { cat "$dir/fixed.err" >&2; fail "the fixed queries ($mode) failed"; }

    timeout "$CLIENT_LIMIT" "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 4 -j 2 -t 500 postgres \
        >"$dir/bench.out" 2>&1 || { cat "$dir/bench.out" >&2; fail "pgbench ($mode) failed"; }
    grep -q '^number of transactions actually processed: 2000/2000$' "$dir/bench.out" ||
        { cat "$dir/bench.out" >&2; fail "pgbench ($mode): not every transaction was processed"; }
    grep -q '^number of failed transactions: 0 ' "$dir/bench.out" ||
        { cat "$dir/bench.out" >&2; fail "pgbench ($mode): failed transactions"; }
    # Every transaction adds the same delta to an account, a teller, a branch and the history.
    local sums
    sums=$(sql -c "select (select sum(abalance) from pgbench_accounts), (select sum(tbalance) from pgbench_tellers),
                          (select sum(bbalance) from pgbench_branches), (select sum(delta) from pgbench_history),
                          (select count(*) from pgbench_history)")
    IFS='|' read -r a t b h n <<<"$sums"
    [[ $a == "$t" && $t == "$b" && $b == "$h" && $n == 2000 ]] ||
        fail "pgbench ($mode): balances disagree (accounts|tellers|branches|history|count: $sums)"
    echo "after pgbench: balances agree, $n history rows" >>"$result"

    as_server_user timeout 120 "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >>"$dir/pg_ctl.log" 2>&1 ||
        { show_tail "$dir/server.log"; fail "pg_ctl stop ($mode) failed"; }
    wait_gone "$master" 30
    grep -q 'database system is shut down' "$dir/server.log" ||
        { show_tail "$dir/server.log"; fail "postgres ($mode) did not log a clean shutdown"; }
    if grep -E 'terminated by signal|was terminated|PANIC' "$dir/server.log" >&2; then
        fail "postgres ($mode): a process died (above)"
    fi
    check_no_memf_error "$dir/initdb.log" "$dir/server.log" "$dir/pg_ctl.log"
    [[ $mode == memf ]] && check_memf_exit "$dir/server.log" "$master"
    note "$mode: $(grep -E '^tps' "$dir/bench.out" | head -n 1)"
}

run_modes
collect_leaks "$WORK/memf/initdb.log" "$WORK/memf/server.log" "$WORK/memf/pg_ctl.log"
# initdb leaks what it builds (about 1 MB: it exits soon after) and so does the `locale -a` it
# runs: memf must find what LeakSanitizer finds, to the byte.
for prog in initdb locale; do
    if ! diff <(grep "^$prog " "$WORK/lsan.leaks") <(grep "^$prog " "$WORK/memf.leaks") >&2; then
        fail "$prog: memf's leak verdict differs from LeakSanitizer's (< lsan, > memf)"
    fi
    grep -q "^$prog " "$WORK/memf.leaks" || fail "$prog: no leak found, where both checkers find one"
done
# A postgres process leaks the copy of its environment it makes for its ps display (glibc's
# setenv later replaces it; Valgrind calls that array definitely lost too) and a string or two:
# a few hundred bytes, not growing with the work. LeakSanitizer misses the array in the
# postmaster and its backends (a stale pointer on the stack), so only the bound is compared.
while read -r prog bytes allocations; do
    [[ $prog != postgres ]] || ((bytes <= 1024)) ||
        fail "a postgres process leaked $bytes bytes in $allocations allocations under memf"
done <"$WORK/memf.leaks"
