# glidepath container image: built from the npm package it publishes, production dependencies
# only, run as a non-root user with glidepath itself as PID 1 (it handles SIGTERM/SIGINT).
#
# Ports: 8080 proxy listener (listen), 9901 admin listener (admin.listen: /livez, /readyz,
# /metrics, /status). The admin listener binds 0.0.0.0 here so kubelet probes and Prometheus
# reach it on the pod IP; it is never the proxy port.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts off: the node@24 devDependency only pins Node for local npm scripts; the image has Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md ./
COPY src ./src
COPY docs ./docs
COPY examples ./examples
# prepack builds dist/ with tsc; the tarball is exactly what `npm publish` would ship.
RUN npm pack --pack-destination /tmp && mv /tmp/glidepath-*.tgz /tmp/glidepath.tgz

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/glidepath
COPY --from=build /tmp/glidepath.tgz /tmp/glidepath.tgz
RUN npm install --omit=dev --no-audit --no-fund /tmp/glidepath.tgz && rm /tmp/glidepath.tgz && npm cache clean --force
USER node
ENV GLIDEPATH_LISTEN=0.0.0.0:8080 \
    GLIDEPATH_ADMIN_LISTEN=0.0.0.0:9901
EXPOSE 8080 9901
ENTRYPOINT ["node", "/opt/glidepath/node_modules/glidepath/dist/cli/main.js"]
CMD ["serve"]
