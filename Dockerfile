# Production image: the gateway as users install it (a wheel, not an editable tree).
#   docker build -t fleet-push-gateway .
#   docker run -e GATEWAY_DB=mysql://user:pass@db:3306/fleet -p 8080:8080 fleet-push-gateway
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY gateway ./gateway
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8080
COPY --from=build /wheels /wheels
# The base install only: no load tester, no test toolchain in the image.
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home /home/gateway --create-home gateway
USER gateway
WORKDIR /home/gateway
EXPOSE 8080
# Ready means the database answers and the schema is there, not just that the process runs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)" || exit 1
ENTRYPOINT ["gateway"]
CMD ["serve"]
