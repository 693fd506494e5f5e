#!/bin/bash
# nginx (master and 2 workers) under glibc, memf and LeakSanitizer, configured in a temporary
# directory on a free port of 127.0.0.1, serves files of 1 KB, 100 KB, 2.2 MB and 5 MB; curl
# fetches each several times, one at a time and concurrently, and every body must have the
# original's sha256. Then SIGQUIT (graceful stop): the master must exit 0 with no worker killed
# by a signal, memf's report at exit must come from the master and both workers with no memf
# error, and memf and LeakSanitizer may find no leak but the one nginx makes (below).
#
# usage: nginx.sh PATH-TO-libmemf.so
source "$(dirname "$0")/common.sh"
setup_servers "$@"
NGINX=/usr/sbin/nginx
require "$NGINX" nginx-light
require curl curl

FETCHES=5

mkdir -p "$WORK/html"
head -c 1000 /dev/urandom >"$WORK/html/small.bin"
head -c 100000 /dev/urandom >"$WORK/html/medium.bin"
head -c 2200000 /dev/urandom >"$WORK/html/big.bin"
head -c 5000000 /dev/urandom >"$WORK/html/large.bin"
chmod 644 "$WORK/html"/*.bin
chmod 755 "$WORK/html"
(cd "$WORK/html" && sha256sum ./*.bin) >"$WORK/expected.sha256"

# fetch URL OUT: one GET; the status and size go to stdout.
fetch() {
    curl -sS --max-time 30 -o "$2" -w '%{http_code} %{size_download}\n' "$1"
}

run_mode() {
    local mode=$1
    local dir=$WORK/$mode
    local result=$WORK/$mode.result
    local port
    port=$(free_port)
    mkdir -p "$dir/tmp" "$dir/out"
    chmod 777 "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 128; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    sendfile off;
    server {
        listen 127.0.0.1:$port;
        root $WORK/html;
    }
}
EOF
    # sendfile off: the bodies are copied through nginx's own buffers, which memf allocates.
    # shellcheck disable=SC2046
    $(preload_env "$mode") "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout" 2>"$dir/stderr" &
    local master=$!
    STARTED_PIDS+=("$master")
    wait_until 30 "nginx ($mode) answering" curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$port/small.bin"
    # The first worker may answer before the master has forked the second (a loaded machine).
    wait_until 10 "nginx ($mode) forking its 2 workers" bash -c "[[ \$(pgrep -c -P $master) -ge 2 ]]"
    local workers
    workers=$(pgrep -P "$master" | tr '\n' ' ')
    [[ $(wc -w <<<"$workers") == 2 ]] || fail "nginx ($mode): expected 2 worker processes, found '$workers'"
    local p
    for p in $master $workers; do check_preload "$mode" "$p"; done

    local name i
    for name in small medium big large; do
        for ((i = 0; i < FETCHES; i++)); do
            echo "$name #$i: $(fetch "http://127.0.0.1:$port/$name.bin" "$dir/out/$name.bin")" >>"$result"
            (cd "$dir/out" && sha256sum -c --quiet "$WORK/expected.sha256" --ignore-missing) >&2 ||
                fail "nginx ($mode): $name.bin fetch #$i differs from the original"
            rm "$dir/out/$name.bin"
        done
    done
    # Concurrent fetches, so both workers serve and buffers of several requests are live at once.
    local jobs=()
    for ((i = 0; i < 4; i++)); do
        mkdir -p "$dir/out/c$i"
        (cd "$dir/out/c$i" && for name in large medium small big; do
            curl -sS --max-time 30 -o "$name.bin" "http://127.0.0.1:$port/$name.bin" || exit 1
            sha256sum -c --quiet "$WORK/expected.sha256" --ignore-missing || exit 1
        done) &
        jobs+=($!)
    done
    for p in "${jobs[@]}"; do
        wait "$p" || fail "nginx ($mode): a concurrent fetch failed or differs from the original"
    done
    echo "concurrent: 4 clients x 4 files ok" >>"$result"
    echo "missing: $(fetch "http://127.0.0.1:$port/none.bin" /dev/null)" >>"$result"

    kill -QUIT "$master"
    wait_exit "$master" 30
    if [[ $EXIT_RC != 0 ]]; then
        show_tail "$dir/error.log"
        show_tail "$dir/stderr"
        fail "nginx ($mode) exited with status $EXIT_RC after SIGQUIT"
    fi
    grep -q 'exiting' "$dir/error.log" || fail "nginx ($mode): no graceful exit in error.log"
    if grep -E 'exited on signal|\[(alert|crit|emerg)\]' "$dir/error.log" >&2; then
        fail "nginx ($mode): a process failed (above)"
    fi
    check_no_memf_error "$dir/error.log" "$dir/stderr" "$dir/stdout"
    # Master and workers point their stderr at the error log once started. memf writes to the
    # stderr a process started with: the master's report goes to the stderr it was started with,
    # the workers' (forked after the redirection) to the error log.
    cat "$dir/error.log" "$dir/stderr" >"$dir/memf-output.log"
    # shellcheck disable=SC2086
    [[ $mode == memf ]] && check_memf_exit "$dir/memf-output.log" "$master" $workers
    local served
    served=$(grep -c ' 200 ' "$dir/access.log" || true)
    note "$mode: $served requests served with 200, master and workers exited cleanly"
}

run_modes
collect_leaks "$WORK/memf/error.log" "$WORK/memf/stderr"
# A worker allocates its connection and event arrays (128 x (240 + 96 + 96) bytes for 128
# worker_connections) outside the cycle's pool and orphans them when it destroys that pool just
# before exit(); a stale pointer left on its stack sometimes keeps them reachable. So each checker
# may find exactly that in a worker or two, and nothing else (memf classifies one block as the
# direct leak, LeakSanitizer calls all three indirect: same bytes, same blocks).
for mode in memf lsan; do
    if grep -v '^nginx 55296 3$' "$WORK/$mode.leaks" >&2 || (($(wc -l <"$WORK/$mode.leaks") > 2)); then
        cat "$WORK/$mode.leaks" >&2
        fail "$mode found leaks other than a worker's connection arrays (above)"
    fi
done
