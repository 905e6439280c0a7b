// CLOUD_TASKS_EMULATOR_HOST: the one reader of the variable in this package, and the
// client options it stands for. Pure functions (no Node module is patched here).
//
// Accepted, as the Python package's autoconnect accepts them: `host:port`, `[v6]:port`
// (an IPv6 address in brackets) and `http://host:port` with or without a trailing `/`,
// surrounding whitespace ignored. Anything else (`https://`, since the emulator speaks
// plain text; no port; a path; another scheme) throws EmulatorHostError, naming the
// variable and the value. A blank or unset variable means "no emulator".
'use strict';

const net = require('node:net');

const ENV = 'CLOUD_TASKS_EMULATOR_HOST';
const EXPECTED = 'host:port (e.g. 127.0.0.1:8124, [::1]:8124 or http://127.0.0.1:8124)';
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;

// The value as the Python package's message shows it (its repr, for plain strings).
const quote = text => `'${String(text).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

class EmulatorHostError extends Error {
  constructor(message) {
    super(message);
    this.name = 'EmulatorHostError';
  }
}

/** `value` -> {host, port}; an IPv6 host without its brackets. */
function parseEmulatorHost(value, name = ENV) {
  const refuse = reason =>
    new EmulatorHostError(`${name}=${quote(value)} is not ${EXPECTED}: ${reason}`);
  let text = String(value).trim();
  const sep = text.indexOf('://');
  if (sep !== -1) {
    const scheme = text.slice(0, sep).toLowerCase();
    if (scheme === 'https') {
      throw refuse('the emulator speaks plain HTTP and gRPC, not TLS; drop https://');
    }
    if (scheme !== 'http') {
      throw refuse(`${text.slice(0, sep)}:// is not a scheme the emulator speaks`);
    }
    text = text.slice(sep + 3);
    if (text.endsWith('/')) text = text.slice(0, -1);
  }
  if (!text) throw refuse('it has no host');
  if (/[/?#@\s]/.test(text)) {
    throw refuse('only a host and a port may be given (no path, user or spaces)');
  }
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) throw refuse('the IPv6 address has no closing ]');
    const address = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!net.isIPv6(address)) throw refuse(`${quote(address)} is not an IPv6 address`);
    if (!rest) throw refuse('it has no port');
    if (!rest.startsWith(':')) throw refuse('the port must follow the ] after a colon');
    return {host: address, port: parsePort(rest.slice(1), refuse)};
  }
  const colon = text.lastIndexOf(':');
  if (colon === -1) throw refuse('it has no port');
  const host = text.slice(0, colon);
  if (!host) throw refuse('it has no host');
  if (host.includes(':')) throw refuse('an IPv6 address needs brackets, as in [::1]:8124');
  if (!HOST_NAME.test(host)) {
    throw refuse(`${quote(host)} is not a host name or IPv4 address`);
  }
  return {host, port: parsePort(text.slice(colon + 1), refuse)};
}

function parsePort(text, refuse) {
  if (!text) throw refuse('it has no port');
  const port = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw refuse(`${quote(text)} is not a port (1-65535)`);
  return port;
}

/** The variable's address as {host, port}, or null when it is unset or blank. */
function emulatorHost(environ = process.env) {
  const value = environ[ENV];
  if (value === undefined || !String(value).trim()) return null;
  return parseEmulatorHost(value);
}

/** True when the caller chose no endpoint and no channel credentials of their own. */
function redirectable(options) {
  return !(options && (options.servicePath || options.apiEndpoint || options.sslCreds));
}

/**
 * The options a `new CloudTasksClient(options)` is built with: `options` itself (the same
 * object) when the variable is unset or blank, or when the caller chose an endpoint or
 * channel credentials (servicePath, apiEndpoint, sslCreds); else a copy that reaches the
 * emulator with no credentials: over gRPC with insecure channel credentials, or, when
 * `fallback` is set, over REST on plain HTTP with an auth client that adds no header.
 * The caller's other options (fallback, clientConfig, grpc.* settings, universeDomain,
 * ...) are kept. `transport` supplies `insecureCredentials()` and `noAuthClient()`, from
 * the same google-gax the client uses. A malformed variable throws EmulatorHostError.
 */
function emulatorOptions(options, transport, environ = process.env) {
  if (!redirectable(options)) return options;
  const address = emulatorHost(environ);
  if (address === null) return options;
  const servicePath = address.host.includes(':') ? `[${address.host}]` : address.host;
  const redirected = {...options, servicePath, port: address.port};
  // The emulator checks no credentials, and none may be sent towards Google: an `auth`
  // of the caller's would be asked for a token (or, over gRPC, for its universe).
  delete redirected.auth;
  if (!redirected.universeDomain && !redirected.universe_domain) {
    // Stated, so that the client does not look up credentials to learn it.
    redirected.universeDomain = 'googleapis.com';
  }
  if (redirected.fallback) {
    redirected.protocol = 'http';
    redirected.authClient = transport.noAuthClient();
  } else {
    redirected.sslCreds = transport.insecureCredentials();
  }
  return redirected;
}

module.exports = {
  ENV,
  EXPECTED,
  EmulatorHostError,
  parseEmulatorHost,
  emulatorHost,
  redirectable,
  emulatorOptions,
};
