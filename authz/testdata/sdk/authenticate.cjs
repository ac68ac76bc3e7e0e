// Reads one JSON array of cases on stdin, runs @clerk/backend's own
// authenticateRequest on each, and prints one JSON array of results.
// A case: {url, method, headers: [[name, value]...]}; options come from argv.
'use strict';
process.env.CLERK_TELEMETRY_DISABLED = '1';
const { createClerkClient } = require('@clerk/backend');

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
    try {
      const state = await clerk.authenticateRequest(req, { authorizedParties: opts.authorizedParties });
      const auth = state.status === 'signed-in' ? state.toAuth() : null;
      out.push({
        status: state.status,
        reason: state.reason || '',
        location: state.headers.get('location') || '',
        setCookies: state.headers.getSetCookie(),
        userId: auth ? auth.userId || '' : '',
        orgId: auth ? auth.orgId || '' : '',
        orgRole: auth ? auth.orgRole || '' : '',
        orgPermissions: auth ? auth.orgPermissions || [] : [],
      });
    } catch (e) {
      out.push({ status: 'error', reason: String(e && e.message || e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { process.stderr.write(String(e.stack || e)); process.exit(1); });
