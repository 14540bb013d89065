/**
 * `weight-balance fig2` draws its figure: a well-formed SVG next to the CSV with one panel per
 * network and one polyline per (p, q) whose points are the CSV's ratios (mapped back through the
 * panel's axes); the tick helpers give 1-2-5 steps and whole numbers for counts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fig2Svg, svgPathFor } from '../src/cli/fig2Figure.js';
import type { CliIO } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { linearTicks, logTicks, tickLabel } from '../src/plot/ticks.js';
import { findAll, parseXml } from './support/xml.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function capture(): CliIO & { text: () => string } {
  let all = '';
  return { out: (t) => void (all += t), err: (t) => void (all += t), isTTY: false, text: () => all };
}

describe('fig2 figure', () => {
  it('writes an SVG next to the CSV: one panel per net, one polyline per (p, q) following the CSV', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wb-fig2-svg-'));
    dirs.push(dir);
    const csv = join(dir, 'runs.csv');
    const io = capture();
    const code = await main(
      [
        'fig2',
        '--arch',
        '8,12,10,3',
        '--arch',
        '8,9,9,9,3',
        '--pq',
        '2,2',
        '--pq',
        '1,2',
        '--pq',
        '2,1',
        '--schedule',
        'parallel',
        '--csv',
        csv,
        '--max-sweeps',
        '300',
      ],
      io,
    );
    expect(code, io.text()).toBe(0);
    expect(io.text()).toContain(join(dir, 'runs.svg'));
    const ratios = new Map<string, number[]>();
    for (const line of (await readFile(csv, 'utf8')).trim().split('\n').slice(1)) {
      const [net, p, q, , , ratio] = line.split(',');
      const key = `${net} ${p} ${q}`;
      ratios.set(key, [...(ratios.get(key) ?? []), Number(ratio)]);
    }
    const svg = parseXml(await readFile(join(dir, 'runs.svg'), 'utf8'));
    expect(svg.name).toBe('svg');
    expect(svg.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    const panels = findAll(svg, 'g').filter((g) => g.attributes.class === 'panel');
    expect(panels.map((g) => g.attributes['data-net'])).toEqual(['8-12-10-3', '8-9-9-9-3']);
    for (const panel of panels) {
      const a = Object.fromEntries(Object.entries(panel.attributes).map(([k, v]) => [k, Number(v)]));
      const lines = findAll(panel, 'polyline');
      expect(lines.map((l) => `${l.attributes['data-p']},${l.attributes['data-q']}`)).toEqual(['2,2', '1,2', '2,1']);
      for (const line of lines) {
        const expected = ratios.get(`${panel.attributes['data-net']} ${line.attributes['data-p']} ${line.attributes['data-q']}`)!;
        const points = line.attributes.points.split(' ').map((pt) => pt.split(',').map(Number));
        expect(points).toHaveLength(expected.length);
        points.forEach(([x, y], k) => {
          const sweep = ((x - a['data-left']) / a['data-width']) * a['data-x-max'];
          const ratio = a['data-y-max'] - ((y - a['data-top']) / a['data-height']) * (a['data-y-max'] - a['data-y-min']);
          // Points are rounded to 0.01 px: a few 1e-4 of the axes' ranges.
          expect(Math.abs(sweep - k)).toBeLessThan((0.01 * a['data-x-max']) / a['data-width'] + 1e-9);
          expect(Math.abs(ratio - expected[k])).toBeLessThan((0.01 * (a['data-y-max'] - a['data-y-min'])) / a['data-height'] + 1e-9);
        });
        // Inside the plot box: the y range covers every ratio.
        for (const r of expected) expect(r >= a['data-y-min'] && r <= a['data-y-max']).toBe(true);
      }
    }
  });

  it('puts the figure beside the CSV, escapes text, and dashes the alternating schedule', () => {
    expect(svgPathFor('out/fig2.csv')).toBe('out/fig2.svg');
    expect(svgPathFor('runs.CSV')).toBe('runs.svg');
    expect(svgPathFor('runs')).toBe('runs.svg');
    const text = fig2Svg([
      { net: 'a<b&c', p: 1, q: 2, schedule: 'parallel', ratios: [1, 0.8, 0.7] },
      { net: 'a<b&c', p: 1, q: 2, schedule: 'alternating', ratios: [1, 0.7] },
    ]);
    const svg = parseXml(text);
    const lines = findAll(svg, 'polyline');
    expect(lines.map((l) => l.attributes['stroke-dasharray'] ?? 'solid')).toEqual(['solid', '6 3']);
    expect(findAll(svg, 'g')[0].attributes['data-net']).toBe('a&lt;b&amp;c');
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg a=1></svg>')).toThrow();
  });
});

describe('axis ticks', () => {
  it('linear ticks step by 1, 2 or 5 times a power of ten and stay inside the range', () => {
    for (const [lo, hi] of [
      [0, 1],
      [0.37, 1],
      [0, 137],
      [3, 2000],
      [-2.5, 7.1],
      [0.9991, 1],
    ] as const) {
      const ticks = linearTicks(lo, hi, 5);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      const step = ticks[1] - ticks[0];
      const mantissa = Number((step / 10 ** Math.floor(Math.log10(step) + 1e-9)).toPrecision(6));
      expect([1, 2, 5]).toContain(mantissa);
      for (const t of ticks) expect(t >= lo - 1e-12 && t <= hi + 1e-12).toBe(true);
    }
  });

  it('integer ticks are whole numbers, even over a short range', () => {
    for (const hi of [1, 3, 7, 12, 999]) {
      const ticks = linearTicks(0, hi, 6, true);
      for (const t of ticks) expect(Number.isInteger(t)).toBe(true);
      expect(new Set(ticks).size).toBe(ticks.length);
    }
  });

  it('log ticks are 1, 2, 5 times powers of ten, powers alone on wide ranges', () => {
    expect(logTicks(1e-3, 1)).toEqual([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);
    const wide = logTicks(1e-12, 1);
    for (const t of wide) expect(Math.log10(t) % 1).toBeCloseTo(0, 9);
    expect(wide.length).toBeLessThanOrEqual(13);
    expect(tickLabel(1e-7)).toBe('1e-7');
    expect(tickLabel(0.25)).toBe('0.25');
    expect(tickLabel(2000)).toBe('2000');
  });
});
