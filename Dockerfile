# The Gaia campaign backend as one container, for Cloud Run (infra/README.md) or any runtime.
#
#   docker build -t gaia-backend .
#   docker run -p 8080:8080 -e GAIA_DATABASE_URL=postgresql://... gaia-backend
#
# It listens on $PORT (8080 unless the platform sets it) and writes only under /tmp:
# GAIA_DATA_DIR defaults to /tmp/gaia (the local-mode token secret, the SQLite store if no
# GAIA_DATABASE_URL is given, local media). Mount a volume there, or point GAIA_DATA_DIR at
# one, to keep that data; on Cloud Run the store is PostgreSQL and media go to GCS.
# tests/e2e/test_container.py runs this file's CMD with its ENV and waits for /readyz.

# -- build: the project and its runtime dependencies (no dev extra) in a virtualenv ---------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
COPY migrate_legacy ./migrate_legacy
# Compiled here (pip's default), so that a cold start does not compile every module.
RUN /opt/venv/bin/pip install .

# -- runtime: the virtualenv on a fresh slim base, run by an unprivileged user ---------------
FROM python:3.11-slim AS runtime

RUN useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin gaia
COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    GAIA_DATA_DIR=/tmp/gaia

WORKDIR /tmp
USER 10001:10001
EXPOSE 8080

# Exec form: the server is PID 1 and gets Cloud Run's SIGTERM itself (it drains within 8 s).
CMD ["python", "-m", "api", "serve"]
