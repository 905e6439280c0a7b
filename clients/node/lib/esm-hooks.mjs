// Module resolve hook (registered by patch.js with module.register, only when
// CLOUD_TASKS_EMULATOR_HOST is set): where @google-cloud/tasks' ES module build imports
// its v2 or v2beta3 client file, the import gets a small module instead that re-exports
// that file with `CloudTasksClient` wrapped by patch.js (in the app's thread).
const CLIENT_URL = /\/@google-cloud\/tasks\/build\/esm\/src\/(?:v2|v2beta3)\/cloud_tasks_client\.js$/;
const MARK = '// cloud-tasks-emulator-register wrapper';
let patchFile;

export async function initialize(data) {
  patchFile = data.patchFile;
}

function wrapperSource(url) {
  const real = JSON.stringify(url);
  return [
    MARK,
    `import {CloudTasksClient as original} from ${real};`,
    "import {createRequire} from 'node:module';",
    `export * from ${real};`,
    `export const CloudTasksClient = createRequire(${JSON.stringify(patchFile)})(${JSON.stringify(
      patchFile,
    )}).wrapClient(original, ${real});`,
    '',
  ].join('\n');
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const parent = context.parentURL || '';
  if (
    CLIENT_URL.test(resolved.url.split(/[?#]/)[0]) &&
    !decodeURIComponent(parent).startsWith(`data:text/javascript,${MARK}`)
  ) {
    return {
      url: `data:text/javascript,${encodeURIComponent(wrapperSource(resolved.url))}`,
      format: 'module',
      shortCircuit: true,
    };
  }
  return resolved;
}
