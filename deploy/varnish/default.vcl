# Varnish in front of wirefeed replicas (Varnish 7.x).
#
# wirefeed already says everything a cache needs: Cache-Control max-age and
# stale-while-revalidate per feed, a strong ETag per content coding, Last-Modified and
# Vary: Accept-Encoding. So this configuration only spreads misses over the replicas, keeps
# stale copies long enough to revalidate them with a conditional request (answered 304 by any
# replica, since replicas on one store agree on validators), and passes the ingest API and the
# metrics through untouched.
#
# deploy/compose.yaml uses it as is; deploy/varnish.sh rewrites the two backend addresses.
vcl 4.1;

import directors;

# Readiness, not liveness: a replica that cannot reach the database (or has not finished
# starting) answers /readyz 503, and Varnish sends its misses to the other replica; /healthz
# only says the process runs.
probe readyz {
    .url = "/readyz";
    .interval = 2s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
}

backend replica_a {
    .host = "wirefeed-a";
    .port = "8080";
    .probe = readyz;
}

backend replica_b {
    .host = "wirefeed-b";
    .port = "8080";
    .probe = readyz;
}

sub vcl_init {
    new replicas = directors.round_robin();
    replicas.add_backend(replica_a);
    replicas.add_backend(replica_b);
}

sub vcl_recv {
    set req.backend_hint = replicas.backend();
    # Publishing, the operator's counters and health checks always reach a replica.
    if (req.url ~ "^/api/" || req.url ~ "^/metrics" || req.url ~ "^/(healthz|readyz)") {
        return (pass);
    }
    # Feeds and pages are public: a cookie or an Authorization header must not make them
    # uncacheable, and wirefeed never reads either on these URLs.
    unset req.http.Cookie;
    unset req.http.Authorization;
}

sub vcl_backend_response {
    # A replica that cannot reach the database answers 503 with Retry-After: while a stale copy
    # is in grace, keep serving it instead of the error.
    if (beresp.status >= 500 && bereq.is_bgfetch) {
        return (abandon);
    }
    # Keep an expired copy for a day after its TTL and grace, so that the next fetch is a
    # conditional request (If-None-Match / If-Modified-Since) that a replica answers 304.
    set beresp.keep = 1d;
}

sub vcl_deliver {
    # Shows readers and operators whether Varnish answered from cache.
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
