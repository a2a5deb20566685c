# One image for every Squall service; docker-compose.yml picks the subcommand.
# The services run compiled (dist/, built in the first stage exactly as `npm pack` builds it);
# tsx, a runtime dependency, only loads the TypeScript workflow and activity modules.
FROM node:20-bookworm-slim AS build

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY services ./services
RUN npm run build

FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY bin ./bin
# The examples import the library by relative path (../../shared/...), so its sources come along.
# services/ does not: with no services/cli/run.ts beside it, bin/squall.js runs dist/.
COPY shared ./shared
COPY examples ./examples

USER node
CMD ["node", "bin/squall.js", "help"]
