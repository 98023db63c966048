FROM alpine:3.20
EXPOSE 8080
USER nobody
CMD ["httpd", "-f", "-p", "8080"]
