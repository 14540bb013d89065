/**
 * The network diagram draws the edges of a concatenation: a layer joined from two branches
 * (`Layer.concat`, what an ONNX Concat along the channels becomes) has no weight block coming in,
 * so without these arcs its boxes would stand unconnected. Each source gets an arc from its box to
 * the concat layer's, saying which units of the concat layer it is.
 */
import type { Network } from '../src/index.js';
import { writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { DemoPage } from './demoPage.js';
import { expect, test } from './fixtures.js';

/** input[4] -> branch A [3], branch B [2] -> concat [5] -> output [2]. */
function concatNet(): Network {
  const rng = new Random(5);
  const dense = (name: string, from: number, to: number, out: number, inputs: number) => ({
    kind: 'dense' as const,
    name,
    from,
    to,
    shape: [out, inputs] as [number, number],
    weight: Float32Array.from({ length: out * inputs }, () => rng.normal()),
    bias: Float32Array.from({ length: out }, () => 0.1 * rng.normal()),
  });
  return {
    layers: [
      { name: 'input', shape: [4], activation: 'identity' },
      { name: 'a', shape: [3], activation: 'relu' },
      { name: 'b', shape: [2], activation: 'relu' },
      { name: 'joined', shape: [5], activation: 'identity', concat: [1, 2] },
      { name: 'output', shape: [2], activation: 'identity' },
    ],
    blocks: [dense('a', 0, 1, 3, 4), dense('b', 0, 2, 2, 4), dense('head', 3, 4, 2, 5)],
  };
}

/** The x coordinate where an SVG path starts and where it ends. */
function pathEnds(d: string): [number, number] {
  const numbers = d.match(/-?\d+(\.\d+)?/g)!.map(Number);
  return [numbers[0], numbers[numbers.length - 2]];
}

test("a concat layer's diagram draws an edge from each source, with the units it becomes", async ({ page }, testInfo) => {
  const demo = new DemoPage(page);
  await demo.open();
  await demo.file.setInputFiles({ name: 'concat.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(writeSafetensors(concatNet())) });
  await expect(demo.status).toHaveText('Opened concat.safetensors.');
  const diagram = page.getByRole('img', { name: 'Network diagram' });
  await expect(diagram.locator('title').first()).toHaveText('Network diagram: 5 layers, 3 weight blocks, 2 concat edges');
  const edges = diagram.locator('g.concat');
  await expect(edges).toHaveCount(2);
  // The blocks alone reach the concat layer from nowhere: the edges are its only incoming lines.
  await expect(diagram.locator('g.block[data-to="3"]')).toHaveCount(0);
  const expected = [
    { from: 1, offset: 0, units: 3, label: 'concat: units 0–2' },
    { from: 2, offset: 3, units: 2, label: 'concat: units 3–4' },
  ];
  const centre = async (layer: number): Promise<number> => {
    const rect = diagram.locator(`g.layer[data-layer="${layer}"] rect`).first();
    return Number(await rect.getAttribute('x')) + Number(await rect.getAttribute('width')) / 2;
  };
  for (const [k, e] of expected.entries()) {
    const edge = edges.nth(k);
    await expect(edge).toHaveAttribute('data-from', String(e.from));
    await expect(edge).toHaveAttribute('data-to', '3');
    await expect(edge).toHaveAttribute('data-offset', String(e.offset));
    await expect(edge).toHaveAttribute('data-units', String(e.units));
    await expect(edge.locator('text')).toHaveText(e.label);
    await expect(edge.locator('path')).toBeVisible();
    // Drawn from the source's box to the concat layer's box.
    const [x0, x1] = pathEnds((await edge.locator('path').getAttribute('d')) ?? '');
    expect(x0).toBeCloseTo(await centre(e.from), 3);
    expect(x1).toBeCloseTo(await centre(3), 3);
  }
  await testInfo.attach('diagram', { body: await diagram.screenshot({ path: testInfo.outputPath('diagram.png') }), contentType: 'image/png' });
});
