// Drives firebase-admin's task queues (Node) against the emulator, which it finds through
// CLOUD_TASKS_EMULATOR_HOST alone, and prints what it saw as JSON (tests/test_firebase.py).
//   node firebase.js PROJECT
'use strict';
const {initializeApp} = require('firebase-admin/app');
const {getFunctions} = require('firebase-admin/functions');

async function main() {
  initializeApp({projectId: process.argv[2]});
  const queue = getFunctions().taskQueue('nodeTask');
  const seen = {};
  await queue.enqueue({hello: 'node'});
  await queue.enqueue(
    {later: true},
    {id: 'node-1', scheduleDelaySeconds: 3600, dispatchDeadlineSeconds: 60, headers: {'X-From': 'node'}},
  );
  try {
    await queue.enqueue({again: true}, {id: 'node-1'});
    seen.duplicate = 'accepted';
  } catch (error) {
    seen.duplicate = error.code;
  }
  await queue.enqueue({}, {id: 'node-2', uri: process.argv[3], scheduleDelaySeconds: 3600});
  await queue.delete('node-2');
  await queue.delete('node-2'); // deleting a missing task is not an error to the SDK
  seen.deleted = true;
  console.log(JSON.stringify(seen));
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
