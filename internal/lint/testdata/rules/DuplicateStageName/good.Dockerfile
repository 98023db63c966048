FROM alpine:3.20 AS a
FROM alpine:3.20 AS b
USER nobody
