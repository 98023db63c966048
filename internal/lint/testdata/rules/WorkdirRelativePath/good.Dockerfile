FROM alpine:3.20
WORKDIR /app
WORKDIR sub
USER nobody
