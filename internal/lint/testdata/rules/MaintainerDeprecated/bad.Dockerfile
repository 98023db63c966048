FROM alpine:3.20
MAINTAINER someone@example.com
USER nobody
