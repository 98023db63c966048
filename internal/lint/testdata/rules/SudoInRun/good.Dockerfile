FROM ubuntu:24.04
RUN echo "sudo is not called here" > /etc/motd
USER ubuntu
