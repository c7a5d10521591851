# syntax=docker/dockerfile:1
# queryscaler: build with the dev dependencies, run with only the runtime ones, as the unprivileged
# `node` user of the base image (uid 1000, which manifests/deployment.yaml also sets).

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# Read at run time by src/api/schema.ts, found next to package.json.
COPY crds ./crds
USER node
EXPOSE 6443 8080
ENTRYPOINT ["node", "dist/src/main.js"]
