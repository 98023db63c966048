FROM alpine:3.20 as build
FROM alpine:3.20
USER nobody
