// Drives the Node client against the emulator over insecure gRPC and over its REST
// fallback, and prints what it saw as JSON (tests/test_node.py checks it).
//   node client.js GRPC_HOST GRPC_PORT HTTP_HOST HTTP_PORT PARENT
'use strict';
const {CloudTasksClient} = require('@google-cloud/tasks');
const grpc = require('@grpc/grpc-js');
const {PassThroughClient} = require('google-auth-library');

const [grpcHost, grpcPort, httpHost, httpPort, parent] = process.argv.slice(2);

async function exercise(client, queueId) {
  const name = `${parent}/queues/${queueId}`;
  const [queue] = await client.createQueue({parent, queue: {name}});
  await client.pauseQueue({name});
  const [task] = await client.createTask({
    parent: name,
    task: {
      httpRequest: {url: 'http://127.0.0.1:9/node', body: Buffer.from('from node'), httpMethod: 'PUT'},
    },
    responseView: 'FULL',
  });
  const [fetched] = await client.getTask({name: task.name, responseView: 'FULL'});
  const [tasks] = await client.listTasks({parent: name});
  let notFound = null;
  try {
    await client.getQueue({name: `${parent}/queues/missing`});
  } catch (error) {
    notFound = {code: error.code, details: error.details || error.message};
  }
  return {
    queue: {name: queue.name, state: queue.state, burst: queue.rateLimits.maxBurstSize},
    task: {name: task.name, body: Buffer.from(fetched.httpRequest.body).toString()},
    listed: tasks.map(t => t.name),
    notFound,
  };
}

async function main() {
  const grpcClient = new CloudTasksClient({
    servicePath: grpcHost,
    port: Number(grpcPort),
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  });
  const restClient = new CloudTasksClient({
    fallback: 'rest',
    protocol: 'http',
    servicePath: httpHost,
    port: Number(httpPort),
    authClient: new PassThroughClient(),
    universeDomain: 'googleapis.com',
  });
  const result = {grpc: await exercise(grpcClient, 'node-grpc'), rest: await exercise(restClient, 'node-rest')};
  console.log(JSON.stringify(result));
  await grpcClient.close();
  await restClient.close();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
