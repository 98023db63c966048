ARG TAG
FROM alpine:$TAG
USER nobody
