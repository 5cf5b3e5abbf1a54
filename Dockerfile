# launcher serve: the gate as a GitHub App webhook service (docs/serve.md).
# The image itself is UNTESTED: no container engine runs where launcher is developed. Its steps
# are tested without one (tests/serve/test_image.py reads this file: the RUN install into a
# fresh virtual environment, the COPY, the ENTRYPOINT with the ENV answering a signed delivery,
# the HEALTHCHECK); the base image and the container runtime are not.
#
#   docker build -t launcher-serve .
#   docker run -p 8080:8080 -e LAUNCHER_APP_ID=123 \
#     -e LAUNCHER_APP_PRIVATE_KEY_FILE=/run/secrets/app-key.pem \
#     -e LAUNCHER_WEBHOOK_SECRET_FILE=/run/secrets/webhook-secret \
#     -v "$PWD/secrets:/run/secrets:ro" launcher-serve

# Pinned to a patch release; pin it by digest too (FROM python:3.11.7-slim-bookworm@sha256:...)
# once built where the registry can be reached (not possible where this was written).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/launcher
# Exact versions of everything installed, with their hashes (wheels only: no build hook runs).
COPY requirements-serve.txt ./
RUN python -m pip install --only-binary=:all: --require-hashes -r requirements-serve.txt \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin launcher
# launcher itself is its package directory, run in place (nothing to build).
COPY launcher ./launcher
ENV PYTHONPATH=/opt/launcher

USER 10001:10001
EXPOSE 8080
ENV LAUNCHER_SERVE_HOST=0.0.0.0 LAUNCHER_SERVE_PORT=8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["python", "-m", "launcher", "serve"]
