# Bản tin: python -m bot run, as a non-root user, with data/ as a volume.
# Pinned to a patch release of the slim Debian image; bump deliberately.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 bantin

# Runtime dependencies only (no dev tools), at the exact hash-checked versions of
# requirements.lock; then the package itself from bot/, without resolving anything again.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --no-deps .

COPY config ./config
RUN mkdir -p /app/data && chown 10001:10001 /app/data

USER 10001:10001
VOLUME ["/app/data"]
ENV BOT_CONFIG=/app/config/bot.toml \
    BOT_DATABASE=/app/data/bantin.db \
    BOT_HTTP_LISTEN=0.0.0.0:8080
EXPOSE 8080

HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-m", "bot", "healthcheck"]

CMD ["python", "-m", "bot", "run"]
