FROM alpine:3.20 AS build
USER nobody
FROM alpine:3.20
USER root
