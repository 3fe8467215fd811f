# syntax=docker/dockerfile:1
# Multi-stage build of the subvisor binary; the runtime image runs as a
# non-root user with config/ baked in and data/ as a volume (SQLite default).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin subvisor

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin subvisor \
    && mkdir -p /app/data \
    && chown subvisor /app/data
WORKDIR /app
COPY --from=build /src/target/release/subvisor /usr/local/bin/subvisor
COPY config/ /app/config/
USER subvisor
# The public listener must be reachable from outside the container. The ops
# listener stays on loopback unless you also set SUBVISOR__HTTP__OPS_ADDR and
# SUBVISOR__OPS__TOKEN (the service refuses a non-loopback ops address without a token).
ENV SUBVISOR__HTTP__PUBLIC_ADDR=0.0.0.0:8080
EXPOSE 8080 9090
VOLUME ["/app/data"]
ENTRYPOINT ["subvisor"]
CMD ["serve"]
