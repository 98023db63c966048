FROM alpine:3.20 AS Build
FROM alpine:3.20
USER nobody
