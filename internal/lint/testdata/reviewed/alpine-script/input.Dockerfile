FROM alpine:3.19
RUN apk update && apk add curl bash sudo
RUN curl -sSL https://example.com/install.sh | sh
ADD config.yml /etc/app/config.yml
RUN chmod 777 /etc/app
USER root
EXPOSE 80
CMD ["/usr/local/bin/app"]
