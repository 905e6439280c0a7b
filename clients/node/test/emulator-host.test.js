// The variable's reader and the options it stands for (pure functions, no client).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  ENV,
  EmulatorHostError,
  parseEmulatorHost,
  emulatorHost,
  emulatorOptions,
} = require('../lib/emulator-host');

const ACCEPTED = {
  '127.0.0.1:8124': {host: '127.0.0.1', port: 8124},
  'localhost:1': {host: 'localhost', port: 1},
  'cloud-tasks:65535': {host: 'cloud-tasks', port: 65535},
  '[::1]:8124': {host: '::1', port: 8124},
  'http://127.0.0.1:8124': {host: '127.0.0.1', port: 8124},
  'http://127.0.0.1:8124/': {host: '127.0.0.1', port: 8124},
  'HTTP://[::1]:8124/': {host: '::1', port: 8124},
  '  host.docker.internal:8124\n': {host: 'host.docker.internal', port: 8124},
};

// The same values and reasons as the Python package's tests/test_emulator_host.py.
const REFUSED = {
  'https://127.0.0.1:8124': 'speaks plain HTTP and gRPC, not TLS',
  'ftp://127.0.0.1:8124': 'ftp:// is not a scheme the emulator speaks',
  'grpc://127.0.0.1:8124': 'grpc:// is not a scheme the emulator speaks',
  '127.0.0.1': 'it has no port',
  localhost: 'it has no port',
  'http://localhost': 'it has no port',
  'http://localhost:': 'it has no port',
  '[::1]': 'it has no port',
  '::1:8124': 'an IPv6 address needs brackets, as in [::1]:8124',
  '[::1:8124': 'the IPv6 address has no closing ]',
  '[example]:8124': "'example' is not an IPv6 address",
  ':8124': 'it has no host',
  'http://': 'it has no host',
  '127.0.0.1:http': "'http' is not a port (1-65535)",
  '127.0.0.1:0': "'0' is not a port (1-65535)",
  '127.0.0.1:65536': "'65536' is not a port (1-65535)",
  '127.0.0.1:8124/v2': 'no path',
  'http://127.0.0.1:8124/v2/': 'no path',
  'user@127.0.0.1:8124': 'no path, user',
  'local host:8124': 'spaces',
  '-bad-:8124': "'-bad-' is not a host name or IPv4 address",
};

test('host:port, [v6]:port and http://host:port[/] are read', () => {
  for (const [value, expected] of Object.entries(ACCEPTED)) {
    assert.deepEqual(parseEmulatorHost(value), expected, value);
  }
});

test('anything else is refused with the variable, the value and the reason', () => {
  for (const [value, reason] of Object.entries(REFUSED)) {
    assert.throws(
      () => emulatorHost({[ENV]: value}),
      error => {
        assert.ok(error instanceof EmulatorHostError, value);
        assert.ok(
          error.message.startsWith(`${ENV}='${value}' is not host:port (e.g. 127.0.0.1:8124, `),
          error.message,
        );
        assert.ok(error.message.includes(reason), `${value}: ${error.message}`);
        return true;
      },
    );
  }
});

test('unset or blank is no emulator', () => {
  assert.equal(emulatorHost({}), null);
  assert.equal(emulatorHost({[ENV]: ''}), null);
  assert.equal(emulatorHost({[ENV]: '  '}), null);
});

const insecure = {insecure: true};
const noAuth = {noAuth: true};
const transport = {insecureCredentials: () => insecure, noAuthClient: () => noAuth};

test('without the variable the options are the same object, untouched', () => {
  for (const options of [undefined, {}, {fallback: 'rest'}]) {
    assert.equal(emulatorOptions(options, transport, {}), options);
    assert.equal(emulatorOptions(options, transport, {[ENV]: ' '}), options);
  }
});

test('a client with an endpoint or channel credentials of its own keeps them, whatever the variable', () => {
  for (const options of [
    {servicePath: 'example.com', port: 443},
    {apiEndpoint: 'example.com'},
    {sslCreds: {mine: true}},
    {fallback: 'rest', servicePath: 'localhost', port: 9000, protocol: 'http'},
  ]) {
    const copy = structuredClone(options);
    for (const value of ['127.0.0.1:8124', 'https://not-read']) {
      assert.equal(emulatorOptions(options, transport, {[ENV]: value}), options);
    }
    assert.deepEqual(options, copy);
  }
});

test('over gRPC: the address, insecure channel credentials, no auth of the caller', () => {
  const options = {clientConfig: {x: 1}, 'grpc.keepalive_time_ms': 5, auth: {theirs: true}};
  const redirected = emulatorOptions(options, transport, {[ENV]: 'http://127.0.0.1:8124/'});
  assert.deepEqual(redirected, {
    clientConfig: {x: 1},
    'grpc.keepalive_time_ms': 5,
    servicePath: '127.0.0.1',
    port: 8124,
    sslCreds: insecure,
    universeDomain: 'googleapis.com',
  });
  assert.equal(options.auth.theirs, true, "the caller's object is not changed");
  assert.deepEqual(emulatorOptions(undefined, transport, {[ENV]: '[::1]:9'}), {
    servicePath: '[::1]',
    port: 9,
    sslCreds: insecure,
    universeDomain: 'googleapis.com',
  });
});

test('over REST (fallback): plain HTTP and an auth client that sends nothing', () => {
  for (const fallback of ['rest', true]) {
    assert.deepEqual(emulatorOptions({fallback}, transport, {[ENV]: 'localhost:8124'}), {
      fallback,
      servicePath: 'localhost',
      port: 8124,
      protocol: 'http',
      authClient: noAuth,
      universeDomain: 'googleapis.com',
    });
  }
});

test("the caller's universe domain is kept", () => {
  const env = {[ENV]: 'localhost:8124'};
  assert.equal(emulatorOptions({universeDomain: 'example.com'}, transport, env).universeDomain, 'example.com');
  const snake = emulatorOptions({universe_domain: 'example.com'}, transport, env);
  assert.equal(snake.universe_domain, 'example.com');
  assert.equal(snake.universeDomain, undefined);
});
