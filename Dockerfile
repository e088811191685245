# syntax=docker/dockerfile:1
# notify-engine, for production (README "Running in production"; compose.yaml runs it with
# PostgreSQL). Slim, non-root, the engine is PID 1: it handles SIGTERM itself (stops
# accepting, drains in-flight requests within NOTIFY_DRAIN_SECONDS, stops its actors, exits
# 0) and SIGINT alike; give the container a stop timeout above NOTIFY_DRAIN_SECONDS.
# Dependencies are installed exactly as locked (requirements.lock, hashes checked).
# Linted with hadolint (scripts/test).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY requirements.lock ./
RUN python -m venv /opt/notify-engine \
    && /opt/notify-engine/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY engine ./engine
RUN /opt/notify-engine/bin/pip install --no-deps .

FROM python:3.11-slim-bookworm
# A system user of the image's own (not the host's): the engine never runs as root.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin notify \
    && mkdir -p /var/lib/notify-engine \
    && chown notify:notify /var/lib/notify-engine \
    && chmod 0700 /var/lib/notify-engine
COPY --from=build /opt/notify-engine /opt/notify-engine
ENV PATH=/opt/notify-engine/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NOTIFY_HOST=0.0.0.0 \
    NOTIFY_PORT=6011 \
    NOTIFY_DATA_DIR=/var/lib/notify-engine
USER 10001:10001
WORKDIR /var/lib/notify-engine
EXPOSE 6011
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('NOTIFY_PORT', '6011') + '/_status', timeout=2)"]
ENTRYPOINT ["notify-engine"]
CMD ["serve"]
