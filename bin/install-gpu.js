#!/usr/bin/env node
// Runs as the project's postinstall. onnxruntime-node's own install script does one thing: on
// linux/x64 it downloads ONNX Runtime's CUDA provider (hundreds of MB) unless told not to; the CPU
// runtime ships inside the package. package.json's allowScripts denies that script, so a plain
// `npm ci` stays CPU-only with no setting npm warns about. A GPU host asks for the download with
// ONNXRUNTIME_NODE_INSTALL=cuda12 (the variable onnxruntime-node's script reads): then it runs here.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const flag = process.env.ONNXRUNTIME_NODE_INSTALL;
if (!flag || flag === 'skip') process.exit(0);

const require = createRequire(import.meta.url);
const ortRoot = path.dirname(require.resolve('onnxruntime-node/package.json'));
// npm before 11.16 knows no allowScripts and has already run the script with the same variable:
// the provider it fetched is here, so it is not fetched twice.
const provider = path.join(ortRoot, 'bin/napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
if (existsSync(provider)) process.exit(0);

console.log(`clipag: ONNXRUNTIME_NODE_INSTALL=${flag}: running onnxruntime-node's install script`);
// npm_package_json as npm sets it for a dependency's own script. Left pointing at our package.json
// (npm sets it so for this postinstall), the script takes the run for a checkout of onnxruntime
// itself and exits without fetching: in 1.30 the value cuda12 falls through its flag parser as
// "unspecified", which is the case that check applies to.
const env = { ...process.env, npm_package_json: path.join(ortRoot, 'package.json') };
const run = spawnSync(process.execPath, [path.join(ortRoot, 'script/install.js')], { cwd: ortRoot, env, stdio: 'inherit' });
process.exit(run.status ?? 1);
