FROM alpine:3.20 AS build
RUN mkdir /out
RUN touch /out/a
FROM alpine:3.20
RUN mkdir /data && chown nobody /data
USER nobody
