# The StreamHouse broker. Built by docker-compose.yml; on its own:
#   docker build -t streamhouse-broker:0.1.0 . && docker run -p 9092:9092 -p 8080:8080 streamhouse-broker:0.1.0
# (streamhouse.testing.StreamHouseContainer runs the image tagged with the installed version.)
FROM python:3.11.10-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY streamhouse streamhouse
COPY protocol protocol
COPY broker broker
COPY storage storage
COPY metadata metadata
COPY tracing tracing
# gcc for the compiled record walk of produce validation (protocol/_recordscan.c), removed after the build.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
# The broker runs as a user of its own, owning only its data folder.
RUN useradd --system --uid 10001 --home-dir /var/lib/streamhouse streamhouse \
    && mkdir -p /var/lib/streamhouse && chown streamhouse:streamhouse /var/lib/streamhouse
USER streamhouse
# The HTTP port is set through the environment so that the health check asks the port the broker uses.
ENV STREAMHOUSE_METRICS_PORT=8080
EXPOSE 9092 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=12 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ['STREAMHOUSE_METRICS_PORT'], timeout=2)"
ENTRYPOINT ["streamhouse", "serve", "--host", "0.0.0.0", "--data-dir", "/var/lib/streamhouse"]
