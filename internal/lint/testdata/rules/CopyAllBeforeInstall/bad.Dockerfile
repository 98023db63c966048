FROM node:22-slim
WORKDIR /app
COPY . .
RUN npm ci && npm cache clean --force
USER node
