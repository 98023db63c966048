FROM alpine:3.20
EXPOSE 8080
HEALTHCHECK CMD wget -qO- http://127.0.0.1:8080/ || exit 1
USER nobody
CMD ["httpd", "-f", "-p", "8080"]
