/**
 * ONNX files on the demo page: open model.onnx → balance → save → the download is an .onnx
 * file that onnxruntime runs with the same outputs and smaller weights; a file that is not ONNX
 * is refused next to the file control.
 */
import { readFile } from 'node:fs/promises';
import { lpqNorm, readOnnx } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, relativeError, runOrt, tensor, valueInfo } from '../test/onnx/build.js';
import { DemoPage } from './demoPage.js';
import { expect, test } from './fixtures.js';

function tinyCnn(): Buffer {
  const rng = new Random(5);
  return Buffer.from(
    model({
      input: [valueInfo('x', ['N', 2, 5, 5])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.4, 1.5)),
        tensor('c.b', [4], randn(rng, [4], 0.1)),
        tensor('fc.w', [3, 36], randn(rng, [3, 36], 0.3, 1.5)),
        tensor('fc.b', [3], randn(rng, [3], 0.1)),
      ],
      node: [
        node('Conv', ['x', 'c.w', 'c.b'], ['z']),
        node('Relu', ['z'], ['a']),
        node('Flatten', ['a'], ['f']),
        node('Gemm', ['f', 'fc.w', 'fc.b'], ['y'], { transB: 1 }),
      ],
    }),
  );
}

test('open model.onnx → balance → save an .onnx that onnxruntime runs with the same outputs', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();
  const original = tinyCnn();
  await demo.file.setInputFiles({ name: 'tiny.onnx', mimeType: 'application/octet-stream', buffer: original });
  await expect(demo.status).toHaveText('Opened tiny.onnx.');
  await expect(demo.network).toHaveValue('file');

  const [row] = await demo.run({ pairs: '2,2', backend: 'cpu', tol: '1e-9', maxSweeps: 20000 });
  expect(row.converged).toBe(true);
  expect(row.finalNorm).toBeLessThan(row.initialNorm * 0.95);

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Save balanced network' }).click();
  const saved = await download;
  expect(saved.suggestedFilename()).toBe('tiny-balanced-p2-q2.onnx');
  const bytes = new Uint8Array(await readFile(await saved.path()));
  expect(bytes.length).toBe(original.length);
  expect(Math.abs(lpqNorm(readOnnx(bytes).network, 2, 2) / row.finalNorm - 1)).toBeLessThan(1e-5);
  const x = Float32Array.from({ length: 2 * 50 }, (_, k) => Math.sin(0.7 * k));
  const before = await runOrt(new Uint8Array(original), x, [2, 2, 5, 5]);
  const after = await runOrt(bytes, x, [2, 2, 5, 5]);
  expect(relativeError(before, after)).toBeLessThan(1e-5);
});

test('a file that is not ONNX, or a truncated one, is refused next to the file control', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();
  const fileError = demo.errorOf('file');
  await demo.file.setInputFiles({ name: 'notes.onnx', mimeType: 'text/plain', buffer: Buffer.from('this is not an ONNX model at all') });
  await expect(fileError).toContainText('notes.onnx');
  await expect(fileError).toContainText('ONNX');
  const good = tinyCnn();
  await demo.file.setInputFiles({ name: 'cut.onnx', mimeType: 'application/octet-stream', buffer: good.subarray(0, good.length >> 1) });
  await expect(fileError).toContainText('cut.onnx');
  await expect(fileError).toContainText('truncated');
  await expect(demo.network).not.toHaveValue('file');
});
