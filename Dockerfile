# syntax=docker/dockerfile:1
# One image per service from one build: `docker build --target <gateway|billing|usage|export|invoice|embedded> .`
# (docker compose builds them all: docker-compose.yml). Non-root, production dependencies only; Chromium only in
# the images that render invoice PDFs (invoice, and embedded: the whole platform in one process).

ARG NODE_IMAGE=node:24-bookworm-slim

# Build: every workspace package compiled to dist/, the dashboard bundled.
FROM ${NODE_IMAGE} AS build
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
RUN npm install --global --no-fund --no-audit pnpm@10
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.base.json tsconfig.build.json ./
COPY packages packages
COPY services services
RUN pnpm install --frozen-lockfile
RUN pnpm exec tsc -b tsconfig.build.json && pnpm --filter @curbmap/gateway run build:web

# Production dependencies only, the compiled output beside them (the manifests' exports point at dist/).
FROM ${NODE_IMAGE} AS runtime
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true NODE_ENV=production CURBMAP_DATA_DIR=/data HOST=0.0.0.0 PORT=8080
RUN npm install --global --no-fund --no-audit pnpm@10
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY --from=build /app/packages packages
COPY --from=build /app/services services
RUN rm -rf packages/*/node_modules services/*/node_modules packages/*/src services/*/src services/gateway/web/src \
  && pnpm install --frozen-lockfile --prod \
  && rm -rf /root/.cache /root/.local/share/pnpm \
  && npm uninstall --global pnpm \
  && mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# Chromium from Debian, for invoice PDFs (puppeteer-core finds /usr/bin/chromium).
FROM runtime AS with-chromium
USER root
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
  && rm -rf /var/lib/apt/lists/*
USER node

FROM runtime AS gateway
CMD ["node", "--max-semi-space-size=4", "--heap-growing-percent=100", "services/gateway/dist/main.js"]

FROM runtime AS billing
CMD ["node", "services/billing/dist/main.js"]

FROM runtime AS usage
CMD ["node", "services/usage/dist/main.js"]

FROM runtime AS export
CMD ["node", "services/export/dist/main.js"]

FROM with-chromium AS invoice
CMD ["node", "services/invoice/dist/main.js"]

# The whole platform in one process (embedded mode: SQLite in /data).
FROM with-chromium AS embedded
CMD ["node", "--max-semi-space-size=4", "--heap-growing-percent=100", "services/gateway/dist/main.js"]
