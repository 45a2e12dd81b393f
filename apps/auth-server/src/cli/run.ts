import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '@tessera/service-kit';
import { ClientRegistry, viewClient } from '../clients/client-registry.js';
import { ConfigError, loadConfig, usesRedis, type Config } from '../config.js';
import { OAuthError } from '../errors.js';
import { KeyDecryptionError, KeyEncryption } from '../keys/key-encryption.js';
import { RotationRefusedError, SigningKeys, UnknownKeyError, type PublicKeyView } from '../keys/signing-keys.js';
import { clientIdSchema, newClientSchema, parseClientInput } from '../schemas/client.js';
import { kidSchema } from '../schemas/keys.js';
import { createStore } from '../store/create-store.js';
import type { Store } from '../store/store.js';
import { record, table } from './table.js';

/** Where the CLI reads its environment and writes its output. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Exit codes: 0 done, 1 the command failed, 2 wrong usage or environment (nothing was attempted). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

interface Context {
  config: Config;
  store: Store;
  values: Values;
  positionals: string[];
  json: boolean;
  out: (text: string) => void;
}

interface Command {
  summary: string;
  usage: string;
  details: string;
  options: Options;
  /** the positional arguments it takes, by name */
  args: string[];
  needsKeyEncryption: boolean;
  run(ctx: Context): Promise<void>;
}

const COMMON: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

const ENVIRONMENT = `Environment: the auth server's. REDIS_URL (or REDIS_CLUSTER_NODES) and REDIS_PREFIX name the store;
keys commands also need KEY_ENCRYPTION_SECRET and use SIGNING_ALG, ACCESS_TOKEN_TTL, JWKS_MAX_AGE and
KEY_RETIREMENT_MARGIN as the server does: run the CLI with the server's environment.
Exit codes: 0 done, 1 the command failed, 2 usage or environment error.`;

const keyRows = (keys: PublicKeyView[]) =>
  table(
    [
      ['KID', (k) => k.kid],
      ['ALG', (k) => k.alg],
      ['STATE', (k) => k.state],
      ['CREATED', (k) => k.created_at],
      ['ACTIVATED', (k) => k.activated_at],
      ['RETIRED', (k) => k.retired_at],
      ['LEAVES JWKS', (k) => k.removed_at],
    ],
    keys as unknown as Record<string, unknown>[],
  );

function signingKeys(config: Config, store: Store): SigningKeys {
  return new SigningKeys({
    store,
    encryption: new KeyEncryption(config.keyEncryptionSecret!, config.keyEncryptionSecretPrevious),
    alg: config.signingAlg,
    accessTokenTtl: config.accessTokenTtl,
    jwksMaxAge: config.jwksMaxAge,
    retirementMargin: config.keyRetirementMargin,
  });
}

/** Splits repeated and comma-separated (for scopes also space-separated) option values. */
const list = (value: unknown, separator: RegExp) =>
  ((value as string[] | undefined) ?? []).flatMap((v) => v.split(separator)).map((v) => v.trim()).filter(Boolean);

const FLAG: Record<string, string> = {
  name: '--name',
  scopes: '--scope',
  audiences: '--audience',
  grant_types: '--grant-type',
  refresh_token_auth: '--refresh-token-auth',
  access_token_ttl: '--access-token-ttl',
  token_endpoint_auth_method: '--auth-method',
  jwks: '--jwks-file',
  jwks_uri: '--jwks-uri',
  token_endpoint_auth_signing_alg: '--auth-signing-alg',
  dpop_bound_access_tokens: '--dpop-bound',
  exchange_audiences: '--exchange-audience',
  exchange_accepts: '--exchange-accept',
};

const COMMANDS: Record<string, Record<string, Command>> = {
  keys: {
    list: {
      summary: 'list the published signing keys',
      usage: 'keys list [--json]',
      details: 'Shows every key in the JWKS: kid, alg, state (next, active, retired), when it was created,\nactivated and retired, and when a retired key leaves the JWKS.',
      options: {},
      args: [],
      needsKeyEncryption: true,
      async run({ config, store, json, out }) {
        const keys = signingKeys(config, store);
        await keys.load();
        if (json) return out(JSON.stringify({ keys: keys.list() }, null, 2) + '\n');
        out(keys.list().length ? keyRows(keys.list()) : 'no signing keys yet: the auth server creates them when it first starts on this store.\n');
      },
    },
    rotate: {
      summary: 'rotate: next → active → retired, and a new next key',
      usage: 'keys rotate [--force] [--json]',
      details:
        'Refused (exit 1) while the next key has been published for less than JWKS_MAX_AGE, because resource\nservers may not have fetched it yet; --force overrides that. Every server signs with the new key within 5 s.',
      options: { force: { type: 'boolean' } },
      args: [],
      needsKeyEncryption: true,
      async run({ config, store, values, json, out }) {
        const keys = signingKeys(config, store);
        await keys.load();
        const listed = await keys.rotate(values.force === true);
        if (json) return out(JSON.stringify({ keys: listed }, null, 2) + '\n');
        const active = listed.find((k) => k.state === 'active');
        const retired = listed.filter((k) => k.state === 'retired').sort((a, b) => (a.retired_at! < b.retired_at! ? -1 : 1)).at(-1);
        out(
          `rotated: ${active?.kid} (${active?.alg}) signs now; servers pick it up within 5 s.\n` +
            (retired ? `${retired.kid} is retired and leaves the JWKS at ${retired.removed_at}.\n` : '') +
            '\n' +
            keyRows(listed),
        );
      },
    },
    revoke: {
      summary: 'emergency: remove a key from the JWKS at once',
      usage: 'keys revoke <kid> [--json]',
      details:
        'For a leaked key. An active key is rotated out first (the next key signs from now on, even if it is\nyounger than JWKS_MAX_AGE). Tokens the key signed stop verifying once resource servers refresh their JWKS.',
      options: {},
      args: ['kid'],
      needsKeyEncryption: true,
      async run({ config, store, positionals, json, out }) {
        const kid = positionals[0]!;
        if (!kidSchema.safeParse(kid).success) throw new UsageError(`malformed kid: ${kid}`);
        const keys = signingKeys(config, store);
        await keys.load();
        const { revoked, effect, keys: listed } = await keys.revoke(kid);
        out(json ? JSON.stringify({ revoked: kid, state: revoked.state, effect, keys: listed }, null, 2) + '\n' : `revoked ${kid}. ${effect}\n\n${keyRows(listed)}`);
      },
    },
  },
  refresh: {
    'revoke-all': {
      summary: 'revoke every refresh token of every client (after restoring Redis from a snapshot)',
      usage: 'refresh revoke-all --yes [--json]',
      details:
        'A restored snapshot brings spent refresh tokens and revoked families back to life; this revokes them all.\nClients then get new tokens with client_credentials. Clients and signing keys are not touched. --yes confirms.',
      options: { yes: { type: 'boolean' } },
      args: [],
      needsKeyEncryption: false,
      async run({ store, values, json, out }) {
        if (values.yes !== true) throw new UsageError('refresh revoke-all revokes every refresh token: add --yes to confirm');
        const revoked = await store.revokeAllFamilies();
        out(json ? JSON.stringify({ revoked_families: revoked }, null, 2) + '\n' : `revoked ${revoked} refresh token families; clients must use client_credentials again.\n`);
      },
    },
  },
  clients: {
    create: {
      summary: 'register a client; prints its secret once (none for private_key_jwt)',
      usage: 'clients create --name N --scope S --audience A [options] [--json]',
      details: `Options:
  --name N                     display name (required)
  --scope S                    scope it may ask for; repeat or use a comma list (required)
  --audience A                 audience (resource) its tokens may name; repeat or comma list; the first is the default (required)
  --grant-type G               client_credentials, refresh_token (default: both),
                               urn:ietf:params:oauth:grant-type:token-exchange (README "Token exchange"; needs --exchange-audience)
  --exchange-audience A        token exchange: a target it may exchange subject tokens for; repeat or comma list
  --exchange-accept A          token exchange: an audience (besides its client id) of subject tokens it may exchange
  --refresh-token-auth M       client_secret (default) or none
  --access-token-ttl D         shorter access token lifetime than ACCESS_TOKEN_TTL (900, 5m)
  --auth-method M              client_secret_basic (default), client_secret_post or private_key_jwt
  --jwks-uri URL               private_key_jwt: where the client publishes its public keys (https)
  --jwks-file FILE             private_key_jwt: a JSON file {"keys": [...]} of public keys (one of the two)
  --auth-signing-alg A         private_key_jwt: the one alg its assertions may use (ES256, ES384, EdDSA, RS256, PS256)
  --dpop-bound                 dpop_bound_access_tokens: every token request needs a DPoP proof (RFC 9449)
The client secret is printed once and never stored in clear: keep it now. A private_key_jwt client has no secret.`,
      options: {
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
        audience: { type: 'string', multiple: true },
        'grant-type': { type: 'string', multiple: true },
        'refresh-token-auth': { type: 'string' },
        'access-token-ttl': { type: 'string' },
        'auth-method': { type: 'string' },
        'jwks-uri': { type: 'string' },
        'jwks-file': { type: 'string' },
        'auth-signing-alg': { type: 'string' },
        'dpop-bound': { type: 'boolean' },
        'exchange-audience': { type: 'string', multiple: true },
        'exchange-accept': { type: 'string', multiple: true },
      },
      args: [],
      needsKeyEncryption: false,
      async run({ config, store, values, json, out }) {
        const ttl = values['access-token-ttl'] as string | undefined;
        const jwksFile = values['jwks-file'] as string | undefined;
        let jwks: unknown;
        if (jwksFile !== undefined) {
          try {
            jwks = JSON.parse(await readFile(jwksFile, 'utf8'));
          } catch (error) {
            throw new UsageError(`--jwks-file: cannot read a JSON key set from ${jwksFile}: ${(error as Error).message.split('\n')[0]}`);
          }
        }
        const input = {
          name: values.name,
          scopes: list(values.scope, /[\s,]+/),
          audiences: list(values.audience, /,/),
          grant_types: values['grant-type'] ? list(values['grant-type'], /,/) : undefined,
          refresh_token_auth: values['refresh-token-auth'],
          access_token_ttl: ttl === undefined ? undefined : (parseDuration(ttl) ?? NaN),
          token_endpoint_auth_method: values['auth-method'],
          jwks,
          jwks_uri: values['jwks-uri'],
          token_endpoint_auth_signing_alg: values['auth-signing-alg'],
          dpop_bound_access_tokens: values['dpop-bound'] === true ? true : undefined,
          exchange_audiences: values['exchange-audience'] ? list(values['exchange-audience'], /,/) : undefined,
          exchange_accepts: values['exchange-accept'] ? list(values['exchange-accept'], /,/) : undefined,
        };
        const parsed = await parseClientInput(newClientSchema(config.accessTokenTtl, config.production), JSON.parse(JSON.stringify(input))).catch((error: unknown) => {
          if (!(error instanceof OAuthError) || error.code !== 'invalid_request') throw error;
          const [path = '', ...rest] = error.description.split(': ');
          const [field = '', ...inner] = path.split('.');
          const flag = FLAG[field] ?? field;
          const where = inner.length ? `${flag}: ${inner.join('.')}` : flag;
          throw new UsageError(`${where}: ${field === 'access_token_ttl' && Number.isNaN(input.access_token_ttl) ? 'a duration (900, 5m)' : rest.join(': ')}`);
        });
        const { client, secret } = await new ClientRegistry(store).create(parsed);
        const shown = { ...viewClient(client), ...(secret === undefined ? {} : { client_secret: secret }) };
        if (json) return out(JSON.stringify(shown, null, 2) + '\n');
        out(
          record([
            ['client_id', shown.client_id],
            ...(secret === undefined
              ? [
                  ['token_endpoint_auth_method', shown.token_endpoint_auth_method] as [string, unknown],
                  shown.jwks_uri ? (['jwks_uri', shown.jwks_uri] as [string, unknown]) : (['jwks', (shown.jwks?.keys ?? []).map((k) => k.kid)] as [string, unknown]),
                ]
              : [['client_secret', `${secret}   (shown once: store it now)`] as [string, unknown]]),
            ['name', shown.name],
            ['scopes', shown.scopes],
            ['audiences', shown.audiences],
            ['grant_types', shown.grant_types],
            ['refresh_token_auth', shown.refresh_token_auth],
            ['access_token_ttl', shown.access_token_ttl ?? `${config.accessTokenTtl} (ACCESS_TOKEN_TTL)`],
            ...(shown.exchange_audiences ? [['exchange_audiences', shown.exchange_audiences] as [string, unknown]] : []),
            ...(shown.exchange_accepts ? [['exchange_accepts', shown.exchange_accepts] as [string, unknown]] : []),
            ['created_at', shown.created_at],
          ]),
        );
      },
    },
    list: {
      summary: 'list the registered clients (never their secrets)',
      usage: 'clients list [--json]',
      details: '',
      options: {},
      args: [],
      needsKeyEncryption: false,
      async run({ store, json, out }) {
        const registry = new ClientRegistry(store);
        const clients = [];
        let cursor: string | undefined;
        do {
          const page = await registry.list(cursor, 200);
          clients.push(...page.clients.map(viewClient));
          cursor = page.next_cursor;
        } while (cursor);
        if (json) return out(JSON.stringify({ clients }, null, 2) + '\n');
        out(
          table(
            [
              ['CLIENT_ID', (c) => c.client_id],
              ['NAME', (c) => c.name],
              ['SCOPES', (c) => c.scopes],
              ['AUDIENCES', (c) => c.audiences],
              ['GRANT_TYPES', (c) => c.grant_types],
              ['CREATED', (c) => c.created_at],
            ],
            clients as unknown as Record<string, unknown>[],
          ),
        );
      },
    },
    delete: {
      summary: 'delete a client and revoke its refresh tokens',
      usage: 'clients delete <client_id> [--json]',
      details: 'Its refresh token families are revoked at once and its next /token request is invalid_client.',
      options: {},
      args: ['client_id'],
      needsKeyEncryption: false,
      async run({ store, positionals, json, out }) {
        const id = positionals[0]!;
        if (!clientIdSchema.safeParse(id).success) throw new UsageError(`malformed client_id: ${id}`);
        if (!(await new ClientRegistry(store).delete(id))) throw new OAuthError('not_found', 404, `no such client: ${id}`);
        out(json ? JSON.stringify({ deleted: id }, null, 2) + '\n' : `deleted client ${id}; its refresh tokens are revoked.\n`);
      },
    },
  },
};

/**
 * Kids and client ids are base64url, so they may start with '-': for a command that takes arguments,
 * anything dash-led that is not one of its options is an argument (moved behind '--' for parseArgs).
 */
function withDashedArguments(args: string[], options: Options, command: Command): string[] {
  if (command.args.length === 0 || args.includes('--')) return args;
  const flags = new Set(Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]));
  const isArgument = (a: string) => a.startsWith('-') && !flags.has(a.split('=')[0]!);
  const dashed = args.filter(isArgument);
  return dashed.length ? [...args.filter((a) => !isArgument(a)), '--', ...dashed] : args;
}

function usage(): string {
  const lines = Object.values(COMMANDS).flatMap((commands) => Object.values(commands).map((c) => `  ${c.usage.padEnd(72)}${c.summary}`));
  return `Usage: npm run cli -- <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nEvery command takes --json (output for scripts) and --help.\n${ENVIRONMENT}\n`;
}

function groupUsage(group: string): string {
  const commands = COMMANDS[group]!;
  return `Usage: npm run cli -- ${group} <command> [options]\n\nCommands:\n${Object.values(commands)
    .map((c) => `  ${c.usage.padEnd(72)}${c.summary}`)
    .join('\n')}\n\nRun "npm run cli -- ${group} <command> --help" for details.\n`;
}

function commandHelp(command: Command): string {
  return `Usage: npm run cli -- ${command.usage}\n\n${command.summary}.\n${command.details ? `\n${command.details}\n` : ''}\n${ENVIRONMENT}\n`;
}

/**
 * Runs one CLI command (README "Ops CLI") against the store named by the environment, through the same code
 * as the admin API (SigningKeys, ClientRegistry).
 * @returns the exit code
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const fail = (code: number, error: string, description: string) => {
    io.stderr(json ? JSON.stringify({ error, error_description: description }) + '\n' : `tessera: ${description}\n`);
    return code;
  };
  const [group, name] = argv;
  if (group === undefined || group === 'help' || group === '--help' || group === '-h') {
    (group === undefined ? io.stderr : io.stdout)(usage());
    return group === undefined ? EXIT.usage : EXIT.ok;
  }
  const commands = COMMANDS[group];
  if (!commands) return fail(EXIT.usage, 'usage', `unknown command "${group}"; run with --help`);
  if (name === undefined || name === '--help' || name === '-h') {
    (name === undefined ? io.stderr : io.stdout)(groupUsage(group));
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands[name];
  if (!command) return fail(EXIT.usage, 'usage', `unknown command "${group} ${name}"; run "npm run cli -- ${group} --help"`);

  let values: Values;
  let positionals: string[];
  try {
    const options = { ...COMMON, ...command.options };
    ({ values, positionals } = parseArgs({ args: withDashedArguments(argv.slice(2), options, command), options, allowPositionals: true, strict: true }));
  } catch (error) {
    return fail(EXIT.usage, 'usage', `${(error as Error).message}; run "npm run cli -- ${group} ${name} --help"`);
  }
  if (values.help) {
    io.stdout(commandHelp(command));
    return EXIT.ok;
  }
  if (positionals.length !== command.args.length) {
    const expected = command.args.length ? command.args.map((a) => `<${a}>`).join(' ') : 'no arguments';
    return fail(EXIT.usage, 'usage', `${group} ${name} takes ${expected}; run "npm run cli -- ${group} ${name} --help"`);
  }

  let config: Config;
  try {
    config = loadConfig(io.env);
  } catch (error) {
    if (error instanceof ConfigError) return fail(EXIT.usage, 'invalid_environment', error.message);
    throw error;
  }
  if (!usesRedis(config)) {
    return fail(
      EXIT.usage,
      'embedded_store',
      'REDIS_URL is not set: the server is using its embedded in-memory store, which lives inside the server process and cannot be reached from here. Set REDIS_URL (or REDIS_CLUSTER_NODES, or REDIS_SENTINELS) and REDIS_PREFIX to the server\'s, or use the admin API (/admin/*).',
    );
  }
  if (command.needsKeyEncryption && !config.keyEncryptionSecret) {
    return fail(EXIT.usage, 'invalid_environment', 'KEY_ENCRYPTION_SECRET: required for keys commands; set it to the secret the auth server uses');
  }

  let store: Store | undefined;
  try {
    store = await createStore(config).catch((error: unknown) => {
      throw new Error(`cannot connect to Redis (REDIS_URL / REDIS_CLUSTER_NODES / REDIS_SENTINELS): ${(error as Error).message}`);
    });
    await command.run({ config, store, values, positionals, json, out: io.stdout });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) return fail(EXIT.usage, 'usage', error.message);
    if (error instanceof OAuthError) return fail(EXIT.failed, error.code, error.description);
    if (error instanceof UnknownKeyError) return fail(EXIT.failed, 'not_found', error.message);
    if (error instanceof RotationRefusedError) return fail(EXIT.failed, 'conflict', error.message);
    if (error instanceof KeyDecryptionError) return fail(EXIT.failed, 'key_decryption_failed', error.message);
    return fail(EXIT.failed, 'failed', (error as Error).message.split('\n')[0] ?? 'failed');
  } finally {
    await store?.close().catch(() => undefined);
  }
}
