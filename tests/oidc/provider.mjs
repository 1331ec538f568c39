// A certified OpenID provider (panva/oidc-provider) for the portal's sign-in tests.
// Usage: node provider.mjs CONFIG.json. The config (written by tests/oidc_provider.py) gives:
//   port, issuer, client {client_id, client_secret, redirect_uris, post_logout_redirect_uris,
//   and for private_key_jwt: token_endpoint_auth_method, jwks},
//   accounts {login: claims}, jwks {keys: [private JWKs]} (the first signs; a restart with
//   another set is a key rotation), id_token_ttl (seconds).
// It logs "listening" once it accepts connections. Login uses the provider's own dev
// interactions (any password; the login names an account of the config).
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(config.issuer, {
  clients: [{
    token_endpoint_auth_method: 'client_secret_basic',
    ...config.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: config.jwks.keys[0].alg,
  }],
  jwks: config.jwks,
  scopes: ['openid', 'attestgate'],
  claims: { openid: ['sub'], attestgate: ['owner_id', 'roles', 'name'] },
  // The ID token carries the scope's claims (the RP reads no userinfo).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { IdToken: config.id_token_ttl || 3600 },
  async findAccount(ctx, id) {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return {
      accountId: id,
      async claims() { return { sub: id, ...claims }; },
    };
  },
});
provider.proxy = false;

const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log('listening');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
