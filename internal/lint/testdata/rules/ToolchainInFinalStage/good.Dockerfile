FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN go build -o /app .
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /app /app
ENTRYPOINT ["/app"]
