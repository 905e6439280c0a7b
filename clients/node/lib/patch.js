// Points the app's own @google-cloud/tasks clients (v2 and v2beta3) at the emulator.
//
// Nothing of @google-cloud/tasks is bundled or required here: the classes are caught as
// the app loads them, from wherever the app's node_modules has them.
// - CommonJS (`require('@google-cloud/tasks')`): a hook on Module._load replaces the
//   `CloudTasksClient` export of build/(cjs/)src/{v2,v2beta3}/cloud_tasks_client.(c)js
//   as that file is loaded, before the package's index reads it, so the top-level
//   `CloudTasksClient`, `v2.CloudTasksClient`, `v2beta3.CloudTasksClient` and the
//   default export's all see the wrapped class.
// - ES modules (`import {CloudTasksClient} from '@google-cloud/tasks'`, Node >= 20.6 or
//   18.19): module.register() adds a resolve hook (esm-hooks.mjs) that gives the
//   package's v2/v2beta3 index a small module re-exporting the real client file with
//   `CloudTasksClient` wrapped.
// The wrapper is a Proxy whose construct trap passes the options through
// emulatorOptions(): statics, `instanceof`, subclasses and the class name are the
// library's own.
'use strict';

const Module = require('node:module');
const {pathToFileURL} = require('node:url');
const {emulatorOptions, ENV} = require('./emulator-host');

const CLIENT_FILE =
  /[\\/]@google-cloud[\\/]tasks[\\/]build[\\/](?:cjs[\\/])?src[\\/](?:v2|v2beta3)[\\/]cloud_tasks_client\.c?js$/;
const INSTALLED = Symbol.for('cloud-tasks-emulator-register.installed');
const WRAPPED = new WeakSet();

/** Whether `cls` is a client class this package wrapped. */
function isWrapped(cls) {
  return WRAPPED.has(cls);
}

/**
 * `cls` (a CloudTasksClient class) wrapped so that its constructor gets
 * emulatorOptions(options). `where` is the client file (path or file: URL): google-gax,
 * for the insecure channel credentials and the no-auth client, is resolved from it.
 */
function wrapClient(cls, where) {
  if (typeof cls !== 'function' || WRAPPED.has(cls)) return cls;
  let transport;
  const resolveTransport = () => {
    if (!transport) {
      const gax = Module.createRequire(where)('google-gax');
      transport = {
        insecureCredentials: () => gax.grpc.credentials.createInsecure(),
        noAuthClient: () => {
          const auth = gax.googleAuthLibrary;
          if (!auth || typeof auth.PassThroughClient !== 'function') {
            throw new Error(
              `${ENV} is set, but the google-gax of @google-cloud/tasks has no ` +
                'googleAuthLibrary.PassThroughClient, for a REST client without credentials ' +
                '(a newer @google-cloud/tasks has it)',
            );
          }
          return new auth.PassThroughClient();
        },
      };
    }
    return transport;
  };
  const wrapped = new Proxy(cls, {
    construct(target, args, newTarget) {
      const [options, ...rest] = args;
      const lazy = {
        insecureCredentials: () => resolveTransport().insecureCredentials(),
        noAuthClient: () => resolveTransport().noAuthClient(),
      };
      return Reflect.construct(target, [emulatorOptions(options, lazy), ...rest], newTarget);
    },
  });
  WRAPPED.add(wrapped);
  return wrapped;
}

function warn(error) {
  process.stderr.write(
    `cloud-tasks-emulator-register: ${ENV} is set, but the Cloud Tasks clients could not ` +
      `be pointed at the emulator: ${error && error.message ? error.message : error}\n`,
  );
}

function patchExports(exports, filename) {
  const descriptor = Object.getOwnPropertyDescriptor(exports, 'CloudTasksClient');
  if (!descriptor || WRAPPED.has(descriptor.value)) return;
  if (!('value' in descriptor) || !descriptor.writable) {
    warn(new Error(`CloudTasksClient of ${filename} cannot be replaced`));
    return;
  }
  exports.CloudTasksClient = wrapClient(descriptor.value, filename);
}

function hookRequire() {
  const load = Module._load;
  Module._load = function cloudTasksEmulatorLoad(request, parent, isMain) {
    const exports = load.apply(this, arguments);
    if (typeof request === 'string' && request.includes('cloud_tasks_client') && parent) {
      let filename;
      try {
        filename = Module._resolveFilename(request, parent, isMain);
      } catch {
        return exports;
      }
      if (CLIENT_FILE.test(filename)) {
        try {
          patchExports(exports, filename);
        } catch (error) {
          warn(error);
        }
      }
    }
    return exports;
  };
}

function hookImport() {
  if (typeof Module.register !== 'function') return; // Node < 18.19 / 20.6: require only
  try {
    Module.register(pathToFileURL(require.resolve('./esm-hooks.mjs')), {
      data: {patchFile: __filename},
    });
  } catch (error) {
    warn(error);
  }
}

/** Install the hooks, once per process, when the variable is set; else do nothing. */
function install(environ = process.env) {
  const value = environ[ENV];
  if (value === undefined || !String(value).trim()) return false;
  if (globalThis[INSTALLED]) return true;
  globalThis[INSTALLED] = true;
  hookRequire();
  hookImport();
  return true;
}

module.exports = {install, isWrapped, wrapClient};
