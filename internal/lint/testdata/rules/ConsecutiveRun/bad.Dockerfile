FROM alpine:3.20
RUN mkdir /data
RUN chown nobody /data
USER nobody
