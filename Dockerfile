# The StreamHouse broker. Built by docker-compose.yml; on its own:
#   docker build -t streamhouse . && docker run -p 9092:9092 -p 8080:8080 streamhouse
FROM python:3.11-slim
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
EXPOSE 9092 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=12 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ready', timeout=2)"]
ENTRYPOINT ["streamhouse", "serve", "--host", "0.0.0.0", "--data-dir", "/var/lib/streamhouse"]
