// Preload: `NODE_OPTIONS="--require cloud-tasks-emulator-register"`.
// With CLOUD_TASKS_EMULATOR_HOST set, a `new CloudTasksClient()` of the app's own
// @google-cloud/tasks (v2 and v2beta3; gRPC, or REST with `fallback`) built without a
// servicePath, apiEndpoint or sslCreds of its own talks to the emulator at that address,
// with no credentials. Unset or blank: nothing is hooked or changed. See README.md.
'use strict';

require('./lib/patch').install();
