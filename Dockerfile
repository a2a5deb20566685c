# One image for every Squall service; docker-compose.yml picks the subcommand.
# TypeScript runs through tsx (a runtime dependency), so there is no build step.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY shared ./shared
COPY services ./services
COPY examples ./examples

USER node
CMD ["node", "bin/squall.js", "help"]
