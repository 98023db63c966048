FROM debian:12-slim
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://get.example.com/install.sh /tmp/install.sh
RUN sh /tmp/install.sh && curl -fsS https://example.com/health | grep ok
USER nobody
