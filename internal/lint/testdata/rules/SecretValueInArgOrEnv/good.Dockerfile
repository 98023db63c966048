FROM alpine:3.20
ENV APP_MODE=production
ARG REPO=https://git.example.com/repo.git
ARG TOKEN_URL=https://$USER:$PASS@example.com/
USER nobody
