FROM ubuntu:24.04
RUN apt-get update && sudo apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
USER ubuntu
