# Bản tin: python -m bot run, as a non-root user, with data/ as a volume.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 bantin

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install .

COPY config ./config
RUN mkdir -p /app/data && chown bantin:bantin /app/data

USER bantin
VOLUME ["/app/data"]
ENV BOT_CONFIG=/app/config/bot.toml \
    BOT_DATABASE=/app/data/bantin.db

CMD ["python", "-m", "bot", "run"]
