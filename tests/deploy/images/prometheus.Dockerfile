# Stands in for the official prom/prometheus and prom/pushgateway images in the compose test:
# Debian's packages of both; the compose override picks the binary as the entrypoint.
ARG DEBIAN_BASE=local/bookworm:base
FROM ${DEBIAN_BASE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-pushgateway > /dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
