FROM alpine:3.20
user nobody
