# Costbot: `docker build -t costbot .` then
#   docker run -p 3000:3000 -v costbot-data:/data \
#     -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET costbot
# (add -e SLACK_APP_TOKEN for Socket Mode, -v ./costbot.yml:/app/costbot.yml for a config).

# --- builder: a virtualenv with the dependencies, then the app ---------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies get their own layer, rebuilt only when the lock changes: the exact runtime
# versions pinned in requirements.lock (generated from pyproject.toml by `make lock`), the same
# file `make demo` installs from.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Then the source: this layer changes on every commit but reuses the dependency layer above.
# --no-deps: everything it needs is already installed, at the locked versions.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY jobs ./jobs
RUN pip install --no-deps .

# --- runtime: the virtualenv only, as an unprivileged user --------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    COSTBOT_DB=/data/costbot.db \
    PORT=3000

RUN useradd --system --create-home --uid 10001 costbot \
    && mkdir -p /data /app \
    && chown costbot:costbot /data /app
COPY --from=builder /opt/venv /opt/venv

USER costbot
WORKDIR /app
VOLUME /data
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,os;urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','3000'))"

ENTRYPOINT ["costbot"]
CMD ["serve"]
