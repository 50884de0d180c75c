# Tokenwise image for docker-compose.yml (a reference layout; see docs/operations.md).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN python -m venv /app/.venv && /app/.venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
RUN mkdir -p var staticfiles && useradd --system --home /app tokenwise && chown -R tokenwise /app/var /app/staticfiles
USER tokenwise
ENV PYTHON=/app/.venv/bin/python TOKENWISE_HOST=0.0.0.0 PORT=8000
EXPOSE 8000
CMD ["scripts/prod-web"]
