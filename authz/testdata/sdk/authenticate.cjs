// Reads one JSON array of cases on stdin, runs @clerk/backend's own
// authenticateRequest on each, and prints one JSON array of results.
// A case: {url, method, headers: [[name, value]...], acceptsToken?};
// options come from argv. acceptsToken, when the case has it (a token
// type, an array of them, or "any"), is passed as the option of that
// name; without it the SDK's default (session_token) applies.
'use strict';
process.env.CLERK_TELEMETRY_DISABLED = '1';
const { createClerkClient } = require('@clerk/backend');
const { reverificationError } = require('@clerk/shared/authorization-errors');

// machineAuth is the part of a machine credential's auth object
// (authenticatedMachineObject) that the service turns into headers.
function machineAuth(auth) {
  return {
    tokenType: auth.tokenType,
    id: auth.id ?? '',
    subject: auth.subject ?? '',
    scopes: auth.scopes ?? null,
    clientId: auth.clientId ?? '',
    machineId: auth.machineId ?? '',
    userId: auth.userId ?? '',
    orgId: auth.orgId ?? '',
  };
}

async function main() {
  const opts = JSON.parse(process.argv[2]);
  const clerk = createClerkClient({ ...opts, telemetry: { disabled: true } });
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const cases = JSON.parse(input);
  const out = [];
  // The SDK logs loop and clock-skew notices on the console: keep stdout for JSON.
  console.log = console.warn = console.error = () => {};
  for (const c of cases) {
    const headers = new Headers();
    for (const [k, v] of c.headers) headers.append(k, v);
    const req = new Request(c.url, { method: c.method, headers });
    const options = { authorizedParties: opts.authorizedParties };
    if (opts.audience !== undefined) options.audience = opts.audience;
    if (opts.issuer !== undefined) options.issuer = opts.issuer;
    // Options the client does not carry into each call (signInUrl,
    // satelliteAutoSync), the multi-domain ones and organizationSyncOptions,
    // passed per call.
    for (const k of ['signInUrl', 'satelliteAutoSync', 'isSatellite', 'domain', 'proxyUrl', 'organizationSyncOptions']) {
      if (opts[k] !== undefined) options[k] = opts[k];
    }
    if (c.acceptsToken !== undefined) options.acceptsToken = c.acceptsToken;
    try {
      const state = await clerk.authenticateRequest(req, options);
      const auth = state.status === 'signed-in' ? state.toAuth() : null;
      const machine = auth && state.tokenType !== 'session_token';
      out.push({
        status: state.status,
        reason: state.reason || '',
        message: state.message || '',
        tokenType: state.tokenType || '',
        location: state.headers.get('location') || '',
        setCookies: state.headers.getSetCookie(),
        userId: auth ? auth.userId || '' : '',
        orgId: auth ? auth.orgId || '' : '',
        orgRole: auth ? auth.orgRole || '' : '',
        orgPermissions: auth ? auth.orgPermissions || [] : [],
        machine: machine ? machineAuth(auth) : null,
        // has(c.has) of the auth object, when the case asks (null otherwise).
        has: c.has ? (auth ? auth.has(c.has) === true : false) : null,
        // The 403 body Clerk's SDKs send for a missing reverification.
        reverificationBody: c.has && c.has.reverification !== undefined ? JSON.stringify(reverificationError(c.has.reverification)) : null,
      });
    } catch (e) {
      out.push({ status: 'error', reason: String(e && e.message || e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
