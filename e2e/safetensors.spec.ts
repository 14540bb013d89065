/**
 * Files on the demo page: open → balance → save → open again computes the same function; files
 * that are not safetensors, truncated, or whose shapes do not chain are refused next to the file
 * control (picker and drag-and-drop), and the page keeps working.
 */
import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { lpqNorm, mlp, readSafetensors, writeSafetensors } from '../src/index.js';
import { DemoPage, relativeDifference } from './demoPage.js';
import { expect, test } from './fixtures.js';

/** A safetensors file from a header and raw little-endian float32 data, written by hand. */
function rawSafetensors(tensors: Record<string, number[]>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const data: number[] = [];
  for (const [name, shape] of Object.entries(tensors)) {
    const count = shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
    for (let i = 0; i < count; i++) data.push(Math.sin(i + 1));
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, Buffer.from(new Float32Array(data).buffer)]);
}

async function dropFile(page: Page, name: string, bytes: Buffer): Promise<void> {
  const transfer = await page.evaluateHandle(
    ({ name, data }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(data)], name));
      return dt;
    },
    { name, data: [...bytes] },
  );
  await page.locator('#dropzone').dispatchEvent('drop', { dataTransfer: transfer });
}

test('open → balance → save → open again: the same function, smaller norm', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();
  const net = mlp([12, 24, 16, 3], { seed: 3, biasScale: 0.1 });
  await demo.file.setInputFiles({ name: 'tiny.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(writeSafetensors(net)) });
  await expect(demo.status).toHaveText('Opened tiny.safetensors.');
  await expect(demo.network).toHaveValue('file');
  const opened = await demo.fingerprint.textContent();
  const before = await demo.probe();
  expect(before).toHaveLength(4 * 3);

  const [row] = await demo.run({ pairs: '2,2', backend: 'cpu', tol: '1e-9', maxSweeps: 20000 });
  expect(row.converged).toBe(true);
  expect(row.finalNorm).toBeLessThan(row.initialNorm * 0.999);

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Save balanced network' }).click();
  const saved = await download;
  expect(saved.suggestedFilename()).toBe('tiny-balanced-p2-q2.safetensors');
  const bytes = await readFile(await saved.path());
  const balanced = readSafetensors(new Uint8Array(bytes));
  expect(Math.abs(lpqNorm(balanced, 2, 2) - row.finalNorm) / row.finalNorm).toBeLessThan(1e-6);

  await demo.file.setInputFiles({ name: 'balanced.safetensors', mimeType: 'application/octet-stream', buffer: bytes });
  await expect(demo.status).toHaveText('Opened balanced.safetensors.');
  await expect(demo.fingerprint).not.toHaveText(opened ?? '');
  const after = await demo.probe();
  expect(relativeDifference(before, after)).toBeLessThan(1e-5);
});

test('files that are not safetensors, truncated, or do not chain are refused next to the file control', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();
  const fileError = demo.errorOf('file');
  const good = Buffer.from(writeSafetensors(mlp([6, 5, 2], { seed: 1 })));

  await demo.file.setInputFiles({ name: 'notes.safetensors', mimeType: 'text/plain', buffer: Buffer.from('this is not a safetensors file at all') });
  await expect(fileError).toContainText('notes.safetensors');
  await expect(demo.file).toHaveAttribute('aria-invalid', 'true');

  await demo.file.setInputFiles({ name: 'cut.safetensors', mimeType: 'application/octet-stream', buffer: good.subarray(0, good.length - 9) });
  await expect(fileError).toContainText('cut.safetensors');

  await dropFile(page, 'chain.safetensors', rawSafetensors({ '0.weight': [8, 4], '2.weight': [3, 5] }));
  await expect(fileError).toContainText('chain.safetensors');

  await dropFile(page, 'model.onnx.txt', good);
  await expect(fileError).toContainText('is not a');

  // Nothing was replaced: the preset is still the network, and a good file opens by drop.
  await expect(demo.network).not.toHaveValue('file');
  await dropFile(page, 'good.safetensors', good);
  await expect(fileError).toBeHidden();
  await expect(demo.network).toHaveValue('file');
  const rows = await demo.run({ pairs: '1,2', backend: 'cpu', maxSweeps: 200 });
  expect(rows[0].finalNorm).toBeLessThan(rows[0].initialNorm);
});
