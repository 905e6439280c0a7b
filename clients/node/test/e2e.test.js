// Unmodified producers (fixtures/enqueue.js and .mjs) create a queue and an HTTP task
// through the preload, against a running emulator. tests/test_node_register.py starts
// the emulator and a receiver, runs these tests with
//   REGISTER_TEST_EMULATOR_HOST  the emulator's host:port
//   REGISTER_TEST_PARENT         projects/P/locations/L
//   REGISTER_TEST_RECEIVER_URL   where the tasks go
// and checks that each queue's task arrived (body "hello from <queue id>"). Without
// them these tests are skipped.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {spawnSync} = require('node:child_process');
const {PACKAGE_DIR, ENV, cleanEnv, runNode, preload} = require('../fixtures/support');

const HOST = process.env.REGISTER_TEST_EMULATOR_HOST;
const PARENT = process.env.REGISTER_TEST_PARENT;
const RECEIVER = process.env.REGISTER_TEST_RECEIVER_URL;
const skip = HOST && PARENT && RECEIVER ? false : 'needs an emulator: run by tests/test_node_register.py';

function producerEnv(queueId, extra = {}) {
  return cleanEnv({
    [ENV]: HOST,
    NODE_OPTIONS: preload(),
    QUEUE_PARENT: PARENT,
    QUEUE_ID: queueId,
    HANDLER_URL: `${RECEIVER}/${queueId}`,
    ...extra,
  });
}

function assertEnqueued(result, queueId) {
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout.trim(), new RegExp(`^${PARENT}/queues/${queueId}/tasks/\\d+$`));
}

const PRODUCERS = {
  'node-cjs-grpc': {file: 'enqueue.js', rest: false},
  'node-cjs-rest': {file: 'enqueue.js', rest: true},
  'node-esm-grpc': {file: 'enqueue.mjs', rest: false},
  'node-esm-rest': {file: 'enqueue.mjs', rest: true},
};

for (const [queueId, {file, rest}] of Object.entries(PRODUCERS)) {
  test(`${file} with ${rest ? "{fallback: 'rest'}" : 'no options'} enqueues on the emulator`, {skip}, () => {
    const env = producerEnv(queueId, {USE_REST: rest ? '1' : '0'});
    assertEnqueued(runNode({file: path.join(PACKAGE_DIR, 'fixtures', file), env}), queueId);
  });
}

test("a client's own endpoint wins over the variable", {skip}, () => {
  // The variable names a port nothing listens on; the client's options name the emulator.
  const [host, port] = [HOST.slice(0, HOST.lastIndexOf(':')), HOST.slice(HOST.lastIndexOf(':') + 1)];
  const source = `
    const {CloudTasksClient} = require('@google-cloud/tasks');
    const {grpc} = require('google-gax');
    const client = new CloudTasksClient({
      servicePath: ${JSON.stringify(host)},
      port: ${Number(port)},
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
    });
    client.createQueue({parent: process.env.QUEUE_PARENT, queue: {name: process.env.QUEUE_PARENT + '/queues/node-explicit'}})
      .then(([queue]) => { console.log(queue.name); return client.close(); })
      .catch(error => { console.error(error); process.exit(1); });
  `;
  const result = runNode({source, env: producerEnv('node-explicit', {[ENV]: '127.0.0.1:1'})});
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), `${PARENT}/queues/node-explicit`);
});

function npm(args, cwd) {
  const result = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(result.status, 0, `npm ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

test('the packed tarball installs into an app, and its name is the preload', {skip}, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-tasks-emulator-register-'));
  try {
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], PACKAGE_DIR));
    assert.deepEqual(packed.files.map(f => f.path).sort(), [
      'README.md',
      'lib/emulator-host.js',
      'lib/esm-hooks.mjs',
      'lib/patch.js',
      'package.json',
      'register.js',
    ]);
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({name: 'app', private: true}));
    npm(['install', '--offline', path.join(work, packed.filename)], app);
    // The app's own @google-cloud/tasks: this package's copy, linked in, not fetched again.
    const scope = path.join(app, 'node_modules', '@google-cloud');
    fs.mkdirSync(scope, {recursive: true});
    fs.symlinkSync(path.join(PACKAGE_DIR, 'node_modules', '@google-cloud', 'tasks'), path.join(scope, 'tasks'), 'dir');
    fs.copyFileSync(path.join(PACKAGE_DIR, 'fixtures', 'enqueue.js'), path.join(app, 'enqueue.js'));
    for (const [queueId, rest] of [['node-packed-grpc', '0'], ['node-packed-rest', '1']]) {
      const env = producerEnv(queueId, {NODE_OPTIONS: '--require cloud-tasks-emulator-register', USE_REST: rest});
      assertEnqueued(runNode({file: path.join(app, 'enqueue.js'), env, cwd: app}), queueId);
    }
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
});
