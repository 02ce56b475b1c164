/**
 * Images with known text, rendered with sharp from an SVG <text> (librsvg + fontconfig; DejaVu Sans in CI), for OCR
 * tests and benchmarks. Deterministic: the same arguments give the same PNG bytes.
 */
import sharp from 'sharp';
import { seededRandom } from '../fixtures/random.js';

export interface TextLine {
  readonly text: string;
  readonly x: number;
  /** Baseline y. */
  readonly y: number;
  readonly size?: number;
}

export interface RenderOptions {
  readonly width: number;
  readonly height: number;
  readonly lines: readonly TextLine[];
  /** Gaussian-ish pixel noise amplitude in 0..255 (0 = clean). */
  readonly noise?: number;
  /** Background gray level (255 = white). */
  readonly background?: number;
  /** Blur sigma (a slightly out-of-focus photo); 0 = sharp. */
  readonly blur?: number;
  readonly format?: 'png' | 'jpeg';
  readonly seed?: number;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const prng = seededRandom;

export async function renderText(o: RenderOptions): Promise<Buffer> {
  const bg = o.background ?? 255;
  const texts = o.lines
    .map((l) => `<text x="${l.x}" y="${l.y}" font-family="DejaVu Sans" font-size="${l.size ?? 28}" fill="#111">${escapeXml(l.text)}</text>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${o.height}">` +
    `<rect width="100%" height="100%" fill="rgb(${bg},${bg},${bg})"/>${texts}</svg>`;
  let img = sharp(Buffer.from(svg)).removeAlpha();
  if (o.blur) img = img.blur(o.blur);
  if (o.noise) {
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    const rand = prng(o.seed ?? 1);
    for (let i = 0; i < data.length; i++) {
      // Sum of 3 uniforms ≈ normal; amplitude ~ noise.
      const n = (rand() + rand() + rand() - 1.5) * o.noise;
      data[i] = Math.max(0, Math.min(255, Math.round(data[i] + n)));
    }
    img = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
  }
  return o.format === 'jpeg' ? img.jpeg({ quality: 85 }).toBuffer() : img.png().toBuffer();
}
