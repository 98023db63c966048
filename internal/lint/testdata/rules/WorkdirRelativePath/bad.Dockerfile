FROM alpine:3.20
WORKDIR app
USER nobody
