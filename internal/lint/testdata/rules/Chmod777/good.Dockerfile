FROM alpine:3.20
COPY --chmod=755 run.sh /run.sh
RUN mkdir /data && chmod 750 /data
USER nobody
