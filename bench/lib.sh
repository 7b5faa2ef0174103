# Shared by the bench scripts (sourced, not run): a release wirefeed and nginx serving
# byte-identical copies of the same 50-entry bench feed (~240 KB of RSS) on 127.0.0.1 only,
# torn down when the calling script exits.
#
# A script sets the addresses it wants (WF_ADDR, NGINX_ADDR) and calls, in this order:
#   bench_tools nginx-light wrk       # Debian packages, installed when their command is missing
#   bench_build                       # release build; sets $bin
#   bench_workdir                     # temporary directory $work, removed on exit
#   start_wirefeed [VAR=value ...]    # extra WIREFEED_* settings; sets $wf_pid
#   copy_feed                         # $work/www holds the feed's identity and gzip bytes
#   start_nginx [directives ...]      # extra http{} directives; sets $ng_pids
# then cpu_ticks / run_wrk / etag_of as needed. Each script's addresses can be overridden
# from the environment (WF_ADDR=127.0.0.1:18181 ...) when its default ports are taken.

feed=/feeds/bench.rss
wf_pid=""
work=""

bench_tools() {
    local missing=() pkg cmd
    for pkg in "$@"; do
        case $pkg in
        nginx-light) cmd=nginx ;;
        nghttp2-client) cmd=h2load ;;
        *) cmd=$pkg ;;
        esac
        command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# WIREFEED_BIN=path serves another build instead (e.g. the one bench/compare.sh leaves in
# its worktree), for a before/after of a script other than compare.sh's.
bench_build() {
    if [ -n "${WIREFEED_BIN:-}" ]; then
        echo "== serving $WIREFEED_BIN"
        bin=$WIREFEED_BIN
        return
    fi
    echo "== building wirefeed (release)"
    cargo build --release --quiet --bin wirefeed
    bin=$PWD/target/release/wirefeed
}

bench_cleanup() {
    [ -n "$wf_pid" ] && kill "$wf_pid" 2>/dev/null || true
    [ -n "$work" ] && [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    sleep 0.3
    [ -n "$work" ] && rm -rf "$work"
    return 0
}

bench_workdir() {
    work=$(mktemp -d)
    chmod 755 "$work"
    trap bench_cleanup EXIT
}

# Starts wirefeed on $WF_ADDR with the bench feed imported; extra settings as VAR=value.
start_wirefeed() {
    local scheme=${WF_SCHEME:-http}
    (
        export WIREFEED_CONFIG=$PWD/config/wirefeed.toml
        export WIREFEED_DATA_DIR=$work/data
        export WIREFEED_FEEDS_DIR=$PWD/bench/feeds
        export WIREFEED_LOAD_SAMPLE=false
        export WIREFEED_LOG=warn
        export WIREFEED_LISTEN=$WF_ADDR
        for setting in "$@"; do export "${setting?}"; done
        "$bin" import bench/fixtures/wire-50.ndjson >/dev/null
        exec "$bin" serve >"$work/wirefeed.out" 2>"$work/wirefeed.err"
    ) &
    wf_pid=$!
    for _ in $(seq 100); do
        curl -kfs "$scheme://$WF_ADDR/healthz" >/dev/null && return 0
        sleep 0.1
    done
    echo "wirefeed did not start:" >&2
    cat "$work/wirefeed.err" >&2
    exit 1
}

# The feed as wirefeed serves it, identity and gzip, for nginx to serve.
copy_feed() {
    local scheme=${WF_SCHEME:-http}
    mkdir -p "$work/www/feeds" "$work/nginx-tmp"
    curl -kfs "$scheme://$WF_ADDR$feed" -o "$work/www$feed"
    curl -kfs -H 'Accept-Encoding: gzip' "$scheme://$WF_ADDR$feed" -o "$work/www$feed.gz"
    cmp <(gzip -dc "$work/www$feed.gz") "$work/www$feed"
    echo "== feed: $(stat -c %s "$work/www$feed") bytes identity, $(stat -c %s "$work/www$feed.gz") bytes gzip"
}

# Starts nginx serving $work/www: sendfile, gzip_static, etag, the same Cache-Control as
# wirefeed. Arguments are extra directives for the http{} block; NGINX_LISTEN (default
# $NGINX_ADDR) is the server's listen directive's value.
start_nginx() {
    local scheme=${NGINX_SCHEME:-http}
    {
        cat <<EOF
user root;
worker_processes auto;
worker_rlimit_nofile 30000;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx-tmp;
    proxy_temp_path $work/nginx-tmp;
    fastcgi_temp_path $work/nginx-tmp;
    uwsgi_temp_path $work/nginx-tmp;
    scgi_temp_path $work/nginx-tmp;
    types { application/rss+xml rss; }
EOF
        local directive
        for directive in "$@"; do echo "    $directive"; done
        cat <<EOF
    server {
        listen ${NGINX_LISTEN:-$NGINX_ADDR};
        root $work/www;
        gzip_static on;
        gzip_vary on;
        etag on;
        add_header Cache-Control "public, max-age=300, stale-while-revalidate=600";
    }
}
EOF
    } >"$work/nginx.conf"
    nginx -c "$work/nginx.conf"
    for _ in $(seq 50); do curl -kfs "$scheme://$NGINX_ADDR$feed" -o /dev/null && break; sleep 0.1; done
    cmp <(curl -kfs "$scheme://$NGINX_ADDR$feed") "$work/www$feed"
    cmp <(curl -kfs -H 'Accept-Encoding: gzip' "$scheme://$NGINX_ADDR$feed") "$work/www$feed.gz"
    ng_pids="$(cat "$work/nginx.pid") $(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')"
}

# A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost: $work/cert.pem, key.pem.
make_certificate() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
}

# nginx's http{} directives for HTTPS with make_certificate's pair, TLS 1.2 and 1.3 only, and
# rustls' preferences (AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305; X25519 first), session
# resumption on: start_nginx "${nginx_tls[@]}" with NGINX_SCHEME=https and an ssl listen.
nginx_tls_directives() {
    nginx_tls=(
        "ssl_certificate $work/cert.pem;"
        "ssl_certificate_key $work/key.pem;"
        "ssl_protocols TLSv1.2 TLSv1.3;"
        "ssl_prefer_server_ciphers on;"
        "ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;"
        "ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256;"
        "ssl_ecdh_curve X25519:prime256v1:secp384r1;"
        "ssl_session_cache shared:SSL:10m;"
        "ssl_session_tickets on;"
    )
}

etag_of() { curl -kfsI "$@" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag" {print $2}'; }

# CPU time (clock ticks, user + system) used so far by the given processes.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

# Resident memory (KB) of the given processes, summed.
rss_kb() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
    done
    echo "$total"
}

# Prints "req/s p50_ms p99_ms cpu_us_per_request" for one wrk run against the server whose
# processes are listed in $server_pids. Arguments: connections, URL, extra wrk arguments.
run_wrk() {
    local conns=$1 url=$2
    shift 2
    local out before after
    before=$(cpu_ticks $server_pids)
    out=$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency "$@" "$url")
    after=$(cpu_ticks $server_pids)
    if echo "$out" | grep -qE "Non-2xx or 3xx|Socket errors"; then
        if echo "$out" | grep -q "Non-2xx or 3xx"; then
            echo "unexpected status codes from $url:" >&2
            echo "$out" >&2
            exit 1
        fi
        echo "$out" | grep "Socket errors" >&2
    fi
    echo "$out" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v
        }
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%.0f %.3f %.3f %.1f\n", rps, p50, p99, (n > 0 ? ticks * 1e6 / hz / n : 0) }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
