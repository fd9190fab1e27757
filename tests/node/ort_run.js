// Runs an .onnx file in onnxruntime (onnxruntime-node, CPU), an independent
// runtime for nnexport's files (tests/shell/nnexport-onnx.sh, bench/onnx.sh).
// Usage: node ort_run.js MODEL.onnx IN.npy OUT.npy [--threads N] [--batch B] [--repeat R]
//   IN.npy: uint8 or float32, NHWC (or [N, k]), fed as the model's one input.
//   OUT.npy: the model's one output, float32.
//   --batch B: runs the input B samples at a time (the last run may be smaller).
//   --repeat R: runs the whole input R times; prints "best SECONDS" of the runs.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
    const b = fs.readFileSync(path);
    if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(path + ': not a .npy file');
    const major = b[6];
    const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
    const start = (major === 1 ? 10 : 12);
    const header = b.toString('latin1', start, start + headerLen);
    const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
    if (/'fortran_order':\s*True/.test(header)) throw new Error(path + ': Fortran order');
    const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter(s => s.trim() !== '').map(Number);
    const data = b.subarray(start + headerLen);
    let type, values;
    if (descr === '|u1') { type = 'uint8'; values = new Uint8Array(data.buffer, data.byteOffset, data.length).slice(); }
    else if (descr === '<f4') { type = 'float32'; values = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)); }
    else throw new Error(path + ': dtype ' + descr + ' (uint8 or float32 only)');
    return { type, values, shape };
}

function writeNpy(path, values, shape) {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
    const pad = 64 - ((10 + header.length + 1) % 64);
    header += ' '.repeat(pad % 64) + '\n';
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1; head[7] = 0;
    head.writeUInt16LE(header.length, 8);
    fs.writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]));
}

async function main() {
    const args = process.argv.slice(2);
    const opt = (name, dflt) => { const i = args.indexOf(name); if (i < 0) return dflt; const v = Number(args[i + 1]); args.splice(i, 2); return v; };
    const threads = opt('--threads', 1), batchOpt = opt('--batch', 0), repeat = opt('--repeat', 0);
    if (args.length !== 3) throw new Error('usage: ort_run.js MODEL.onnx IN.npy OUT.npy [--threads N] [--batch B] [--repeat R]');
    const [modelPath, inPath, outPath] = args;
    const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
    const input = readNpy(inPath);
    const n = input.shape[0], per = input.shape.slice(1).reduce((a, b) => a * b, 1);
    const batch = batchOpt > 0 ? batchOpt : n;
    const run = async () => {
        const outs = [];
        for (let s = 0; s < n; s += batch) {
            const m = Math.min(batch, n - s);
            const t = new ort.Tensor(input.type, input.values.subarray(s * per, (s + m) * per), [m, ...input.shape.slice(1)]);
            const r = await session.run({ [session.inputNames[0]]: t });
            outs.push(r[session.outputNames[0]]);
        }
        return outs;
    };
    let outs = await run();
    if (repeat > 0) {
        let best = Infinity;
        for (let i = 0; i < repeat; ++i) {
            const t0 = process.hrtime.bigint();
            outs = await run();
            best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
        }
        console.log('best ' + best.toFixed(4));
    }
    const dims = outs[0].dims.slice(1), k = dims.reduce((a, b) => a * b, 1);
    const all = new Float32Array(n * k);
    let at = 0;
    for (const o of outs) { all.set(o.data, at); at += o.data.length; }
    writeNpy(outPath, all, [n, ...dims]);
}

main().catch(e => { console.error('ort_run.js: ' + (e && e.message ? e.message : e)); process.exit(1); });
