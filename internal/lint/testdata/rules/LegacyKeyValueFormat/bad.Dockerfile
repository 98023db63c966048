FROM alpine:3.20
ENV MODE production
USER nobody
