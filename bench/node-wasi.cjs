// Runs a WASI command module with one argument, as wasmgrid would (stdout is the result).
const fs = require('node:fs');
const { WASI } = require('node:wasi');
const [path, arg] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['program', arg], env: {} });
const wasmModule = new WebAssembly.Module(fs.readFileSync(path));
const instance = new WebAssembly.Instance(wasmModule, { wasi_snapshot_preview1: wasi.wasiImport });
process.exitCode = wasi.start(instance);
