ARG NODE=node:22-bookworm-slim
FROM ${NODE} AS build
FROM gcr.io/distroless/nodejs22-debian12:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000
COPY --from=build /app /app
CMD ["/app/app.js"]
