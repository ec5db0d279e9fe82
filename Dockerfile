# Production image: the gateway against MySQL/MariaDB (set GATEWAY_DB).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8080
WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY gateway ./gateway
COPY sql ./sql
COPY loadtest ./loadtest
# Editable install keeps sql/ where the package looks for it (next to gateway/).
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 --home /app gateway \
    && chown -R gateway /app
USER gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
ENTRYPOINT ["gateway"]
CMD ["serve"]
