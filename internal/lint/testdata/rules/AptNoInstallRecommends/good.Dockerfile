FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y gcc && rm -rf /var/lib/apt/lists/*
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
USER nobody
