#!/usr/bin/env node
// `modelops` entry point (package.json "bin"): lets Node load the TypeScript sources through tsx, then runs the CLI.
'use strict';

// The SDK warns once per process that its 2027 releases will need Node 22; the project pins its SDK versions,
// so on Node 20 that advisory is noise in a CLI's output (README: Node 22 recommended).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs/api').register();
const { runCli } = require('./index.ts');

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
