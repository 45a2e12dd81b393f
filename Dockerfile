# syntax=docker/dockerfile:1
# One image for the apps: `node apps/auth-server/dist/main.js` (default), `node apps/collector/dist/main.js`
# or `node apps/forward-auth/dist/main.js`.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY apps/auth-server/package.json apps/auth-server/
COPY apps/collector/package.json apps/collector/
COPY apps/forward-auth/package.json apps/forward-auth/
COPY packages/guard/package.json packages/guard/
COPY packages/token-client/package.json packages/token-client/
COPY packages/service-kit/package.json packages/service-kit/
COPY bench/package.json bench/
RUN npm ci --no-audit --no-fund
COPY apps apps
COPY packages packages
RUN npx tsc -b

FROM node:20-bookworm-slim AS runtime
# V8's young generation: two semi-spaces of at most 8 MiB instead of its default 16 MiB. The auth server's
# RSS under load falls by about 25 MB at the same CPU per request (README "Performance"); `npm run bench`
# starts Tessera's servers with this line's NODE_OPTIONS. Keep it when you set NODE_OPTIONS of your own.
ENV NODE_ENV=production NODE_OPTIONS=--max-semi-space-size=8
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/auth-server/package.json apps/auth-server/
COPY apps/collector/package.json apps/collector/
COPY apps/forward-auth/package.json apps/forward-auth/
COPY packages/guard/package.json packages/guard/
COPY packages/token-client/package.json packages/token-client/
COPY packages/service-kit/package.json packages/service-kit/
COPY bench/package.json bench/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/apps/auth-server/dist apps/auth-server/dist
COPY --from=build /app/apps/collector/dist apps/collector/dist
COPY --from=build /app/apps/forward-auth/dist apps/forward-auth/dist
COPY --from=build /app/packages/guard/dist packages/guard/dist
COPY --from=build /app/packages/token-client/dist packages/token-client/dist
COPY --from=build /app/packages/service-kit/dist packages/service-kit/dist
USER node
EXPOSE 4000 4001 4002
CMD ["node", "apps/auth-server/dist/main.js"]
