# Open-AutoGLM server image: docs/deploy.md. Build: docker build -t open-autoglm .
# Run:   docker run -p 8000:8000 -p 8001:8001 -p 8002:8002 -v "$PWD/examples/model_repository:/models:ro" open-autoglm

# Stage 1: compile the TypeScript (needs the dev dependencies: typescript).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-protos.mjs scripts/
COPY src src
RUN npm run build

# Stage 2: the runtime dependencies only. Install scripts run (onnxruntime-node, sharp, lmdb pick their native
# binaries); `prepare` (the TypeScript build) does not: the compiled code comes from stage 1. npm's download cache
# stays in this stage: only node_modules goes on.
FROM node:20-bookworm-slim AS deps
WORKDIR /deps
COPY package.json package-lock.json .npmrc ./
RUN npm pkg delete scripts.prepare && npm ci --omit=dev

# Stage 3: what runs. The image's own non-root user `node` (uid 1000) owns nothing it serves.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /deps/node_modules node_modules
COPY --from=deps /deps/package.json package.json
COPY --from=build /src/dist dist
USER node
# Models are mounted here (read-only is enough). KServe mounts them at /mnt/models: its ServingRuntime passes that.
VOLUME ["/models"]
# HTTP/REST (KServe v2), gRPC, Prometheus metrics: tritonserver's ports.
EXPOSE 8000 8001 8002
# Ready = every model loaded (Triton's strict readiness). Node's own fetch: the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8000/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# ONNX Runtime telemetry is off unless --allow-ort-telemetry (the server's default). SIGTERM drains: docs/deploy.md.
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve", "--model-repository", "/models"]
