# syntax=docker/dockerfile:1
# Build stage: the same release binary `cargo build --release` makes.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sample ./sample
COPY templates ./templates
# Cargo.toml names the benches; cargo reads them even when it builds only the binary.
COPY benches ./benches
RUN cargo build --release --locked

# Runtime stage: a small Debian with the binary, the feed definitions and the config.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 wirefeed \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/wirefeed --create-home wirefeed
COPY --from=build /src/target/release/wirefeed /usr/local/bin/wirefeed
COPY feeds /etc/wirefeed/feeds
COPY config/wirefeed.toml /etc/wirefeed/wirefeed.toml
ENV WIREFEED_CONFIG=/etc/wirefeed/wirefeed.toml \
    WIREFEED_FEEDS_DIR=/etc/wirefeed/feeds \
    WIREFEED_DATA_DIR=/var/lib/wirefeed \
    WIREFEED_LISTEN=0.0.0.0:8080
USER 10001:10001
VOLUME ["/var/lib/wirefeed"]
EXPOSE 8080
# Liveness: the process runs (restart it if not). Whether to send it traffic is /readyz, which
# is 503 while the database is unreachable: load balancers and Varnish probe that instead.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/wirefeed"]
CMD ["serve"]
