# The azt3knet project image: the `azt3knet` CLI, the Dagster webserver and daemon, the infra entry points.
# Used by infra/docker-compose.mail.yml (dagster-webserver, dagster-daemon, azt3knet-dns-bootstrap).
#
#   docker build -t azt3knet:latest .
#
# Configuration comes only from the environment (see .env.example); no secret is baked into the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY azt3knet_pipeline ./azt3knet_pipeline
# Wheels for the project and every dependency (psycopg2-binary, dagster-postgres, ... ship manylinux wheels).
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AZT3KNET_HOME=/var/lib/azt3knet \
    DAGSTER_HOME=/opt/azt3knet/dagster-home

RUN groupadd --system --gid 10001 azt3knet \
 && useradd --system --uid 10001 --gid azt3knet --home-dir /var/lib/azt3knet --shell /usr/sbin/nologin azt3knet

COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels azt3knet-pipeline && rm -rf /wheels

WORKDIR /opt/azt3knet
COPY workspace.yaml ./workspace.yaml
COPY infra/dns_bootstrap.py infra/dyn_updater.py ./infra/
# The deployment dagster.yaml (PostgreSQL storage from AZT3KNET_DAGSTER_POSTGRES_URL, queued runs, pools) is
# part of the image; the instance's files (compute logs, IO-manager outputs) go to the mounted storage volume.
COPY infra/dagster.yaml ./dagster-home/dagster.yaml
RUN mkdir -p /opt/azt3knet/dagster-home/storage /var/lib/azt3knet/exports \
 && chown -R azt3knet:azt3knet /opt/azt3knet/dagster-home /var/lib/azt3knet \
 && chmod 0700 /var/lib/azt3knet /var/lib/azt3knet/exports

USER azt3knet
EXPOSE 3000
# The webserver by default; the compose file runs the daemon and the one-shot jobs from the same image
# (and gives only the webserver a healthcheck).
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "/opt/azt3knet/workspace.yaml"]
