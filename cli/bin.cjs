#!/usr/bin/env node
// `modelops` entry point (package.json "bin"): lets Node load the TypeScript sources through tsx, then runs the CLI.
'use strict';

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
