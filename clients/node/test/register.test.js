// The preload in a real Node process, with the @google-cloud/tasks of this package's
// devDependencies (`npm ci`): which classes it wraps, when, and what a bad value does.
// No call is made here (test/e2e.test.js reaches the emulator).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const {PACKAGE_DIR, ENV, cleanEnv, runNode, preload} = require('../fixtures/support');

const PATCH = JSON.stringify(path.join(PACKAGE_DIR, 'lib', 'patch.js'));
// The library's own v2 client class, loaded by its file path next to the package's
// index (its exports map offers only the index).
const INDEX = require.resolve('@google-cloud/tasks', {paths: [PACKAGE_DIR]});
const OWN_CLIENT = JSON.stringify(path.join(path.dirname(INDEX), 'v2', 'cloud_tasks_client.cjs'));

// Prints, as JSON, whether each way to reach the client class is wrapped by the preload.
const WHICH_CJS = `
const {isWrapped} = require(${PATCH});
const tasks = require('@google-cloud/tasks');
const own = require(${OWN_CLIENT}).CloudTasksClient;
const client = new tasks.CloudTasksClient({fallback: 'rest'});
console.log(JSON.stringify({
  top: isWrapped(tasks.CloudTasksClient),
  v2: isWrapped(tasks.v2.CloudTasksClient),
  v2beta3: isWrapped(tasks.v2beta3.CloudTasksClient),
  default: isWrapped(tasks.default.CloudTasksClient),
  name: tasks.CloudTasksClient.name,
  instance: client instanceof own && client instanceof tasks.CloudTasksClient,
  staticPort: tasks.CloudTasksClient.port,
  noAuth: client.auth.constructor.name === 'PassThroughClient',
}));
`;

const WHICH_ESM = `
import {createRequire} from 'node:module';
import tasksDefault, {CloudTasksClient, v2, v2beta3} from '@google-cloud/tasks';
const {isWrapped} = createRequire(import.meta.url)(${PATCH});
const client = new CloudTasksClient({fallback: 'rest'});
console.log(JSON.stringify({
  top: isWrapped(CloudTasksClient),
  v2: isWrapped(v2.CloudTasksClient),
  v2beta3: isWrapped(v2beta3.CloudTasksClient),
  default: isWrapped(tasksDefault.CloudTasksClient),
  name: CloudTasksClient.name,
  noAuth: client.auth.constructor.name === 'PassThroughClient',
}));
`;

function which(source, env, module = false) {
  const result = runNode({source, env, module});
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '');
  return JSON.parse(result.stdout);
}

test('without the variable (or blank) nothing is wrapped: the library is untouched', () => {
  for (const env of [cleanEnv({NODE_OPTIONS: preload()}), cleanEnv({NODE_OPTIONS: preload(), [ENV]: ' '})]) {
    assert.deepEqual(which(WHICH_CJS, env), {
      top: false,
      v2: false,
      v2beta3: false,
      default: false,
      name: 'CloudTasksClient',
      instance: true,
      staticPort: 443,
      noAuth: false,
    });
    assert.deepEqual(which(WHICH_ESM, env, true), {
      top: false,
      v2: false,
      v2beta3: false,
      default: false,
      name: 'CloudTasksClient',
      noAuth: false,
    });
  }
});

test('without the variable, loading the preload hooks nothing', () => {
  const source = `
    const Module = require('node:module');
    const load = Module._load;
    require(${JSON.stringify(path.join(PACKAGE_DIR, 'register.js'))});
    console.log(JSON.stringify(Module._load === load));
  `;
  assert.equal(which(source, cleanEnv()), true);
  assert.equal(which(source, cleanEnv({[ENV]: '127.0.0.1:8124'})), false);
});

test('with the variable, every way to the v2 and v2beta3 clients is wrapped (require)', () => {
  const env = cleanEnv({NODE_OPTIONS: preload(), [ENV]: '127.0.0.1:8124'});
  assert.deepEqual(which(WHICH_CJS, env), {
    top: true,
    v2: true,
    v2beta3: true,
    default: true,
    name: 'CloudTasksClient',
    instance: true,
    staticPort: 443,
    noAuth: true,
  });
});

test('with the variable, every way to the v2 and v2beta3 clients is wrapped (import)', () => {
  const env = cleanEnv({NODE_OPTIONS: preload(), [ENV]: '127.0.0.1:8124'});
  assert.deepEqual(which(WHICH_ESM, env, true), {
    top: true,
    v2: true,
    v2beta3: true,
    default: true,
    name: 'CloudTasksClient',
    noAuth: true,
  });
});

// Each line builds a client; prints the error message, or "built".
const BUILD = `
const tasks = require('@google-cloud/tasks');
const builders = {
  grpc: () => new tasks.CloudTasksClient(),
  rest: () => new tasks.CloudTasksClient({fallback: 'rest'}),
  v2beta3: () => new tasks.v2beta3.CloudTasksClient(),
  explicit: () => new tasks.CloudTasksClient({servicePath: 'example.com', port: 443}),
  explicitRest: () => new tasks.CloudTasksClient({fallback: 'rest', apiEndpoint: 'example.com'}),
};
const out = {};
for (const [name, build] of Object.entries(builders)) {
  try { build(); out[name] = 'built'; } catch (error) { out[name] = error.name + ': ' + error.message; }
}
console.log(JSON.stringify(out));
`;

test('a malformed value throws when a client it applies to is built, naming the variable', () => {
  const env = cleanEnv({NODE_OPTIONS: preload(), [ENV]: 'https://127.0.0.1:8124'});
  const refused =
    "EmulatorHostError: CLOUD_TASKS_EMULATOR_HOST='https://127.0.0.1:8124' is not host:port " +
    '(e.g. 127.0.0.1:8124, [::1]:8124 or http://127.0.0.1:8124): ' +
    'the emulator speaks plain HTTP and gRPC, not TLS; drop https://';
  assert.deepEqual(which(BUILD, env), {
    grpc: refused,
    rest: refused,
    v2beta3: refused,
    explicit: 'built',
    explicitRest: 'built',
  });
});

test('the package name and its ./register path are the preload too', () => {
  // As a user's NODE_OPTIONS names it: resolved from the working directory's
  // node_modules (here, this package's own name, through a self-reference).
  for (const name of ['cloud-tasks-emulator-register', 'cloud-tasks-emulator-register/register']) {
    const env = cleanEnv({NODE_OPTIONS: `--require ${name}`, [ENV]: '127.0.0.1:8124'});
    assert.equal(which(WHICH_CJS, env).top, true, name);
  }
});
