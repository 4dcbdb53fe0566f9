'use strict';
// Entry file of each wasm pthread worker (see threads.ts). tfjs-backend-wasm ships
// emscripten's worker script only as a string, which tfjs turns into a `blob:` URL that
// Node's worker_threads cannot load; here the same script runs from a real file.
const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');

// The string holds raw newlines where the original had "\n" escapes inside string
// literals; tfjs re-escapes them the same way before making its Blob.
const source = wasmWorkerContents.replace(/\n/g, '\\n');
// The script expects CommonJS `require` and `__filename` in scope, as in a worker file.
new Function('require', '__filename', source)(require, __filename);
