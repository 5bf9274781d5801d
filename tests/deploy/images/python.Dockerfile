# What the official python:3.11-slim-bookworm image gives the project's Dockerfile (Python
# 3.11, venv, CA certificates), made from Debian packages over a locally imported bookworm
# root file system: image registries are out of reach where the tests run.
ARG DEBIAN_BASE=local/bookworm:base
FROM ${DEBIAN_BASE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3 python3-venv ca-certificates > /dev/null \
    && rm -rf /var/lib/apt/lists/*
