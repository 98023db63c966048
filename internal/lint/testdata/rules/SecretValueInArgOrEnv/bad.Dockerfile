FROM alpine:3.20
ENV AWS_KEY_ID=AKIAIOSFODNN7EXAMPLE
ARG REPO=https://deploy:s3cr3tpass@git.example.com/repo.git
USER nobody
