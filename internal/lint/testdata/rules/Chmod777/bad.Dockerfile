FROM alpine:3.20
COPY --chmod=777 run.sh /run.sh
RUN mkdir /data && chmod -R a+rwx /data
USER nobody
