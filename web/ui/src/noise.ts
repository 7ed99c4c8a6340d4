// High-entropy test source for `relaycast loadtest --publisher-source noise`.
//
// The clock canvas (clock.ts) is so simple that the encoder reaches its quality target far below
// its bitrate cap, so the bytes a publisher sends say little about what its path could carry. This
// canvas is 1280×720 (three simulcast layers on the broadcast page): below the clock strip of
// clock.ts (so glass-to-glass still reads on the watch page) it shows random 8×8-pixel blocks
// (a 160×90 ImageData from a xorshift generator, scaled up without smoothing: cheap to paint).
//
// By default the noise is static: the encoder keeps refining it and spends its whole target on
// every layer at 30 fps (measured: q/h/f at ≈ 150/500/1500 kbps). `&noise=N` repaints N rows of the
// texture with fresh noise every frame; even N = 1–3 makes every frame so expensive that libvpx
// drops to a few frames per second, so the default stays 0. Keyframes of noise are large (a viewer's
// PLI costs the publisher a second or two of dropped frames): use the clock for latency figures.

import { ROW_H, paintBits } from "./clock";

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;
const NOISE_W = 160;
const NOISE_H = 90;
/** Rows of the 160×90 texture (8 px each) repainted with fresh noise per frame; `&noise=N` overrides. */
export const DEFAULT_REFRESH_ROWS = 0;

/** Starts painting and returns the canvas's video track (30 fps, 1280×720). */
export function noiseTrack(refreshRows = DEFAULT_REFRESH_ROWS): MediaStreamTrack {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const g = canvas.getContext("2d");
  const small = document.createElement("canvas");
  small.width = NOISE_W;
  small.height = NOISE_H;
  const sg = small.getContext("2d");
  if (!g || !sg) throw new Error("no 2D canvas");
  const img = sg.createImageData(NOISE_W, NOISE_H);
  const px = new Uint32Array(img.data.buffer);
  let x = (Date.now() ^ 0x9e3779b9) >>> 0 || 1;
  const fill = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      // xorshift32; the top byte is alpha on little-endian machines: keep it opaque.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      px[i] = (x | 0xff000000) >>> 0;
    }
  };
  fill(0, px.length);
  sg.putImageData(img, 0, 0);
  const rows = Math.max(0, Math.min(NOISE_H, Math.floor(refreshRows)));
  const stream = canvas.captureStream(FPS);
  const top = 2 * Math.round(HEIGHT * ROW_H);
  let band = 0;
  const paint = (): void => {
    for (let r = 0; r < rows; r++) {
      fill(band * NOISE_W, (band + 1) * NOISE_W);
      band = (band + 1) % NOISE_H;
    }
    if (rows > 0) sg.putImageData(img, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(small, 0, 0, NOISE_W, NOISE_H, 0, top, WIDTH, HEIGHT - top);
    const t = Date.now();
    g.fillStyle = "#000";
    g.fillRect(0, HEIGHT - 56, 260, 56);
    g.fillStyle = "#fff";
    g.font = "32px monospace";
    g.fillText(new Date(t).toISOString().slice(11, 23), 16, HEIGHT - 18);
    paintBits(g, t, WIDTH, HEIGHT);
  };
  paint();
  window.setInterval(paint, 1000 / FPS);
  const track = stream.getVideoTracks()[0];
  if (!track) throw new Error("canvas capture gave no video track");
  return track;
}
