#!/usr/bin/env node
// Runs a TF.js Layers model.json (as nnexport writes it) with @tensorflow/tfjs
// 4.22 (tfjs-layers, pure-JS CPU backend) under plain node, for the suite's
// comparison with nnpredict (tests/shell/nnexport-keras.sh).
//
// Usage: node tfjs_run.js MODEL.json INPUT.npy OUTPUT.npy
// INPUT.npy: uint8 ('|u1') or little-endian float32 ('<f4'), C order,
// [batch, height, width, channels]; bytes are given to the model as floats
// (the same values), as Keras takes them. OUTPUT.npy: float32, C order.
// The shards are read from disk and handed to tf.loadLayersModel through
// tf.io.fromMemory, as tfjs' own file loader would (no tfjs-node needed).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(file + ': not a .npy file');
  const major = buf.readUInt8(6);
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  if (fortran !== 'False' || (descr !== '<f4' && descr !== '|u1')) throw new Error(file + ': need <f4 or |u1 in C order, got ' + descr);
  const off = hstart + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = descr === '|u1' ? buf.readUInt8(off + i) : buf.readFloatLE(off + 4 * i);
  return {shape, data};
}

function writeNpy(file, shape, data) {
  let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt8(0x93, 0);
  head.write('NUMPY', 1, 'latin1');
  head.writeUInt8(1, 6);
  head.writeUInt8(0, 7);
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(4 * data.length);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [modelPath, inputPath, outputPath] = process.argv.slice(2);
  if (!outputPath) throw new Error('usage: node tfjs_run.js MODEL.json INPUT.npy OUTPUT.npy');
  const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const dir = path.dirname(modelPath);
  const specs = [], buffers = [];
  for (const group of model.weightsManifest) {
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
  const layers = await tf.loadLayersModel(tf.io.fromMemory({modelTopology: model.modelTopology, weightSpecs: specs, weightData}));
  const input = readNpy(inputPath);
  const y = layers.predict(tf.tensor(input.data, input.shape, 'float32'));
  writeNpy(outputPath, y.shape, y.dataSync());
}

main().catch((e) => {
  process.stderr.write('tfjs_run.js: ' + (e && e.message ? e.message : String(e)) + '\n');
  process.exit(1);
});
