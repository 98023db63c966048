FROM debian:12-slim
RUN curl -fsSL https://get.example.com/install.sh | bash -s -- --yes
USER nobody
