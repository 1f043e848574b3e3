# The hotline's image: web (gunicorn, the default command) and workers (`flask --app app worker`).
# Build: docker build -t hotline .   Run it with deploy/compose.yaml (see README, "Deploy in production").

# Build stage: wheels that need a compiler are built here, never in the image that runs.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt
# The recogniser's US English model ships inside the pocketsphinx wheel: a build without it
# would store recordings that are never transcribed, so it fails here instead.
RUN /opt/venv/bin/python -c "import pathlib, pocketsphinx; \
m = pathlib.Path(pocketsphinx.get_model_path()) / 'en-us'; \
assert (m / 'en-us').is_dir() and (m / 'en-us.lm.bin').is_file() and (m / 'cmudict-en-us.dict').is_file(), m; \
pocketsphinx.Decoder(loglevel='FATAL'); print('pocketsphinx model:', m)"

FROM python:3.11-slim
# A fixed uid/gid, so volumes and host directories can be owned by it.
RUN groupadd --system --gid 10001 hotline \
 && useradd --system --uid 10001 --gid hotline --home-dir /var/lib/hotline --shell /usr/sbin/nologin hotline \
 && install -d -o hotline -g hotline -m 0700 /var/lib/hotline
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code and configuration belong to root: the process that serves the internet cannot change them.
COPY app.py alembic.ini config.yaml ./
COPY hotline ./hotline
COPY workers ./workers
COPY migrations ./migrations
COPY ivr_flows ./ivr_flows
COPY deploy/healthcheck.py ./deploy/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOTLINE_ENV=production \
    HOTLINE_INSTANCE_PATH=/var/lib/hotline \
    HOTLINE_STORAGE_PATH=/var/lib/hotline/storage \
    WEB_CONCURRENCY=4
USER hotline
EXPOSE 8000
# /healthz: the process is alive. The proxy routes on /readyz (database, Redis, storage).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/healthcheck.py", "web"]
# README's production command; the worker count is WEB_CONCURRENCY (about two per core).
CMD ["gunicorn", "app:app", \
     "--worker-class", "gthread", "--threads", "2", "--reuse-port", "--keep-alive", "30", \
     "--logger-class", "hotline.tipweb.accesslog.TipPrivacyLogger", "--bind", "0.0.0.0:8000"]
