FROM alpine:${VERSION}
USER nobody
