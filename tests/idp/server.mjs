// Test-only OpenID Provider for revokd end-to-end tests.
//
// A real, certified OpenID Provider (panva/oidc-provider) with one client,
// a few fixed accounts, Back-Channel Logout and RP-Initiated Logout, and a
// test-only interaction route that logs an account in without a browser.
// NEVER deploy this: it logs anyone in as anyone, and it lets the provider
// send requests to loopback addresses.
//
// Configuration (command line flag, or the environment variable in brackets):
//   --port N                                 [IDP_PORT]  0 (default) = a free port
//   --client-id ID                           [IDP_CLIENT_ID]  default revokd-test-client
//   --client-secret SECRET                   [IDP_CLIENT_SECRET]  absent = public client (PKCE only)
//   --redirect-uri URI          (repeatable) [IDP_REDIRECT_URIS, space separated]
//   --backchannel-logout-uri URI             [IDP_BACKCHANNEL_LOGOUT_URI]  required
//   --backchannel-logout-session-required true|false
//                                            [IDP_BACKCHANNEL_LOGOUT_SESSION_REQUIRED]  default true
//   --post-logout-redirect-uri URI (repeatable) [IDP_POST_LOGOUT_REDIRECT_URIS, space separated]
//   --id-token-alg RS256|ES256               [IDP_ID_TOKEN_ALG]  default RS256; also signs logout tokens
//   --ignore-stdin                           [IDP_IGNORE_STDIN=1]  do not exit when stdin closes
//
// Protocol with the test harness:
//   stdout: exactly one line, {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT}
//   stderr: everything else (oidc-provider's notices, errors, back-channel results)
//   exits when stdin closes (unless --ignore-stdin), on SIGTERM and on SIGINT.
//
// Test-only routes (besides oidc-provider's own):
//   GET /interaction/:uid                    JSON: the pending prompt and its parameters
//   GET /interaction/:uid/login?account=ID   completes login AND consent for a known account
//   GET /interaction/:uid/abort              ends the interaction with access_denied

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints its notices with console.info (stdout). stdout belongs
// to the ready line alone, so everything the process logs goes to stderr.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
console.debug = (...args) => console.error(...args);

// Imported after the redirection above, so nothing it prints reaches stdout.
const { default: Provider } = await import('oidc-provider');

function fail(message) {
  console.error(`test-idp: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'backchannel-logout-uri': { type: 'string' },
    'backchannel-logout-session-required': { type: 'string' },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'id-token-alg': { type: 'string' },
    'ignore-stdin': { type: 'boolean' },
  },
  strict: true,
});

const env = process.env;
const list = (value) => (value ? value.split(/\s+/).filter(Boolean) : undefined);

const port = Number(args.port ?? env.IDP_PORT ?? '0');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port: ${args.port ?? env.IDP_PORT}`);

const clientId = args['client-id'] ?? env.IDP_CLIENT_ID ?? 'revokd-test-client';
const clientSecret = args['client-secret'] ?? env.IDP_CLIENT_SECRET ?? undefined;
const redirectUris = args['redirect-uri'] ?? list(env.IDP_REDIRECT_URIS) ?? ['http://127.0.0.1/callback'];
const postLogoutRedirectUris = args['post-logout-redirect-uri']
  ?? list(env.IDP_POST_LOGOUT_REDIRECT_URIS) ?? ['http://127.0.0.1/logged-out'];
const backchannelLogoutUri = args['backchannel-logout-uri'] ?? env.IDP_BACKCHANNEL_LOGOUT_URI;
if (!backchannelLogoutUri) fail('--backchannel-logout-uri (IDP_BACKCHANNEL_LOGOUT_URI) is required');
const sessionRequiredRaw = args['backchannel-logout-session-required']
  ?? env.IDP_BACKCHANNEL_LOGOUT_SESSION_REQUIRED ?? 'true';
if (!['true', 'false'].includes(sessionRequiredRaw)) {
  fail(`--backchannel-logout-session-required must be true or false, not ${sessionRequiredRaw}`);
}
const idTokenAlg = args['id-token-alg'] ?? env.IDP_ID_TOKEN_ALG ?? 'RS256';
if (!['RS256', 'ES256'].includes(idTokenAlg)) fail(`--id-token-alg must be RS256 or ES256, not ${idTokenAlg}`);
const ignoreStdin = args['ignore-stdin'] ?? env.IDP_IGNORE_STDIN === '1';

// ---------------------------------------------------------------- keys

// Fresh keys on every start: a test that needs "the IdP rotated its keys"
// restarts the provider. Private JWKs never leave this process.
function signingKey(alg) {
  const { privateKey } = alg === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`,
    alg,
    use: 'sig',
  };
}
// The first key of the alg a token needs is the one that signs it.
const jwks = { keys: [signingKey('RS256'), signingKey('ES256')] };

// ---------------------------------------------------------------- accounts

const ACCOUNTS = new Map([
  ['alice', { name: 'Alice Example', email: 'alice@example.test' }],
  ['bob', { name: 'Bob Example', email: 'bob@example.test' }],
  ['carol', { name: 'Carol Example', email: 'carol@example.test' }],
]);

async function findAccount(_ctx, id) {
  const account = ACCOUNTS.get(id);
  if (!account) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: account.name,
        email: account.email,
        email_verified: true,
      };
    },
  };
}

// ---------------------------------------------------------------- outgoing requests

// Since 9.x oidc-provider hands every outgoing request (back-channel logout
// POST, client jwks_uri, sector_identifier_uri, ...) a fetch dispatcher that
// destroys sockets connected to special-use IP addresses (127.0.0.0/8, ::1,
// RFC 1918, ...): see lib/helpers/fetch_request.js. Our receivers listen on
// 127.0.0.1, so this test provider replaces the `fetch` configuration hook:
// it drops that dispatcher and instead allows loopback destinations ONLY.
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
function loopbackOnlyFetch(url, options) {
  const { hostname } = new URL(url);
  if (!LOOPBACK_HOSTS.has(hostname) && !/^127\.\d+\.\d+\.\d+$/.test(hostname)) {
    return Promise.reject(new Error(`test IdP only sends requests to loopback addresses, not ${hostname}`));
  }
  const { dispatcher: _ssrfGuard, ...rest } = options;
  return globalThis.fetch(url, rest);
}

// ---------------------------------------------------------------- provider

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

const html = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

const client = {
  client_id: clientId,
  ...(clientSecret
    ? { client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' }
    : { token_endpoint_auth_method: 'none' }),
  application_type: 'web',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: redirectUris,
  post_logout_redirect_uris: postLogoutRedirectUris,
  backchannel_logout_uri: backchannelLogoutUri,
  backchannel_logout_session_required: sessionRequiredRaw === 'true',
  id_token_signed_response_alg: idTokenAlg,
};

const provider = new Provider(issuer, {
  clients: [client],
  jwks,
  findAccount,
  fetch: loopbackOnlyFetch,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // The provider's own confirmation form (with its xsrf value) plus the
      // two buttons of the default page; no external fonts.
      async logoutSource(ctx, form) {
        ctx.body = html('Logout Request', `${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = html('Sign-out Success', '<p>Sign-out successful.</p>');
      },
    },
  },
  interactions: {
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = html('Error', `<pre>${JSON.stringify(out).replace(/</g, '\\u003c')}</pre>`);
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'backchannel.error']) {
  provider.on(event, (ctx, err, ...rest) => {
    const error = err instanceof Error ? err : ctx;
    const detail = error?.error_description ? ` (${error.error_description})` : '';
    const cause = error?.cause ? ` cause: ${error.cause.message ?? error.cause}` : '';
    const extra = event === 'backchannel.error' ? ` client=${rest[0]?.clientId} sub=${rest[1]} sid=${rest[2]}` : '';
    console.error(`test-idp ${event}: ${error?.message ?? error}${detail}${cause}${extra}`);
  });
}
provider.on('backchannel.success', (_ctx, c, accountId, sid) => {
  console.error(`test-idp backchannel.success: client=${c.clientId} sub=${accountId} sid=${sid}`);
});

// ---------------------------------------------------------------- interactions

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

// Grants what the authorization request asked for: its OIDC scopes and the
// claims of its `claims` parameter (plus whatever an earlier grant had).
async function grantFor(interaction, accountId) {
  const { params, prompt } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope ?? 'openid');
  const details = prompt.details ?? {};
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  if (params.claims) {
    const claims = typeof params.claims === 'string' ? JSON.parse(params.claims) : params.claims;
    const names = [...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {})];
    if (names.length) grant.addOIDCClaims(names);
  }
  if (details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return grant.save();
}

async function handleInteraction(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/);
  if (!match || req.method !== 'GET') {
    sendJson(res, 404, { error: 'not_found' });
    return;
  }
  const [, uid, action] = match;
  let interaction;
  try {
    interaction = await provider.interactionDetails(req, res);
  } catch (err) {
    sendJson(res, 400, { error: 'interaction_not_found', error_description: err.message });
    return;
  }
  if (interaction.uid !== uid) {
    sendJson(res, 400, { error: 'interaction_mismatch', error_description: 'the interaction cookie names another interaction' });
    return;
  }

  if (action === undefined) {
    sendJson(res, 200, {
      uid: interaction.uid,
      prompt: interaction.prompt,
      params: interaction.params,
      session: interaction.session ?? null,
    });
    return;
  }

  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }

  // action === 'login': completes the login prompt (for a fresh session) and
  // the consent prompt in one go.
  let accountId = url.searchParams.get('account');
  const sessionAccount = interaction.session?.accountId;
  if (interaction.prompt.name === 'login') {
    if (!accountId || !ACCOUNTS.has(accountId)) {
      sendJson(res, 400, { error: 'unknown_account', error_description: `known accounts: ${[...ACCOUNTS.keys()].join(', ')}` });
      return;
    }
  } else {
    if (!sessionAccount) {
      sendJson(res, 400, { error: 'no_session', error_description: `prompt ${interaction.prompt.name} without a session` });
      return;
    }
    if (accountId && accountId !== sessionAccount) {
      sendJson(res, 400, { error: 'account_mismatch', error_description: `the session belongs to ${sessionAccount}` });
      return;
    }
    accountId = sessionAccount;
  }

  const grantId = await grantFor(interaction, accountId);
  const result = { consent: { grantId } };
  if (interaction.prompt.name === 'login') {
    result.login = { accountId, amr: ['pwd'], acr: 'urn:revokd:test' };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const providerCallback = provider.callback();
server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/interaction' || url.pathname.startsWith('/interaction/')) {
    handleInteraction(req, res, url).catch((err) => {
      console.error('test-idp interaction error:', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: err.message });
      else res.end();
    });
    return;
  }
  providerCallback(req, res);
});

// ---------------------------------------------------------------- lifecycle

let stopping = false;
function stop(reason) {
  if (stopping) return;
  stopping = true;
  console.error(`test-idp stopping: ${reason}`);
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
if (!ignoreStdin) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('close', () => stop('stdin closed'));
  process.stdin.on('error', () => stop('stdin error'));
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({ ready: true, issuer, port: actualPort })}\n`);
