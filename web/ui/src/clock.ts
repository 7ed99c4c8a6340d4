// Glass-to-glass clock for `relaycast loadtest`.
//
// The broadcast page with `&source=clock` publishes a canvas that paints the current time
// (Date.now(), ms) as a strip of black/white cells across the top of every frame; the watch page's
// `window.relaycast.readClock()` reads the strip back from the <video> and returns how old each
// painted time was when its frame was shown. Publisher and viewer must share a clock (one machine).
//
// Strip layout (relative to the frame, so any resolution the encoder picks still decodes): the top
// STRIP_H of the frame holds two rows of CLOCK_BITS cells, most significant bit first. Row 1 is
// white for 1; row 2 is its inverse, so a frame that does not carry a clean strip is rejected.

export const CLOCK_BITS = 42; // ms since 1970 fit in 42 bits until the year 2109
export const ROW_H = 0.06; // each row is 6 % of the frame height
const WIDTH = 640;
const HEIGHT = 360;
const FPS = 30;

/** Starts painting and returns the canvas's video track (30 fps, 640×360). */
export function clockTrack(): MediaStreamTrack {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  const g = canvas.getContext("2d");
  if (!g) throw new Error("no 2D canvas");
  const stream = canvas.captureStream(FPS);
  let n = 0;
  const paint = (): void => {
    n++;
    // A moving scene below the strip so the encoder has motion to code.
    g.fillStyle = `hsl(${(n * 2) % 360} 45% 35%)`;
    g.fillRect(0, 0, WIDTH, HEIGHT);
    for (let i = 0; i < 6; i++) {
      g.fillStyle = `hsl(${(n * 5 + i * 60) % 360} 70% 55%)`;
      const x = (n * (3 + i) + i * 97) % WIDTH;
      const y = HEIGHT * 2 * ROW_H + ((n * (2 + i) + i * 53) % Math.floor(HEIGHT * (1 - 2 * ROW_H) - 40));
      g.fillRect(x, y, 60, 40);
    }
    const t = Date.now();
    g.fillStyle = "#fff";
    g.font = "28px monospace";
    g.fillText(new Date(t).toISOString().slice(11, 23), 16, HEIGHT - 20);
    paintBits(g, t, WIDTH, HEIGHT);
  };
  paint();
  window.setInterval(paint, 1000 / FPS);
  const track = stream.getVideoTracks()[0];
  if (!track) throw new Error("canvas capture gave no video track");
  return track;
}

export function paintBits(g: CanvasRenderingContext2D, t: number, w: number, h: number): void {
  const cw = w / CLOCK_BITS;
  const rh = Math.round(h * ROW_H);
  for (let i = 0; i < CLOCK_BITS; i++) {
    const bit = Math.floor(t / 2 ** (CLOCK_BITS - 1 - i)) % 2;
    const x = Math.floor(i * cw);
    const cellW = Math.floor((i + 1) * cw) - x;
    g.fillStyle = bit ? "#fff" : "#000";
    g.fillRect(x, 0, cellW, rh);
    g.fillStyle = bit ? "#000" : "#fff";
    g.fillRect(x, rh, cellW, rh);
  }
}

/** Decodes a strip drawn into an RGBA buffer of w×h whose height covers exactly the two rows. */
export function decodeClock(data: Uint8ClampedArray, w: number, h: number): number | null {
  const y1 = Math.floor(h * 0.25);
  const y2 = Math.floor(h * 0.75);
  let t = 0;
  for (let i = 0; i < CLOCK_BITS; i++) {
    const x = Math.floor(((i + 0.5) * w) / CLOCK_BITS);
    const a = luma(data, (y1 * w + x) * 4);
    const b = luma(data, (y2 * w + x) * 4);
    if (Math.abs(a - b) < 64) return null; // not a clean, inverted pair: no strip in this frame
    t = t * 2 + (a > b ? 1 : 0);
  }
  return t;
}

function luma(d: Uint8ClampedArray, i: number): number {
  return 0.299 * (d[i] ?? 0) + 0.587 * (d[i + 1] ?? 0) + 0.114 * (d[i + 2] ?? 0);
}

type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: unknown) => void) => number;
};

const MAX_SAMPLES = 5000;
const EVERY_NTH_FRAME = 3;

/** Reads the clock strip of a <video> on every third presented frame. */
export class ClockReader {
  private readonly canvas = document.createElement("canvas");
  private readonly g: CanvasRenderingContext2D | null;
  private samples: number[] = [];
  private frames = 0;
  private started = false;

  constructor(private readonly video: HTMLVideoElement) {
    this.canvas.width = CLOCK_BITS * 8;
    this.canvas.height = 16;
    this.g = this.canvas.getContext("2d", { willReadFrequently: true });
  }

  /** Starts sampling (once) and returns the glass-to-glass delays (ms) measured since the last call. */
  drain(): number[] {
    this.start();
    const out = this.samples;
    this.samples = [];
    return out;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const v = this.video as FrameCallbackVideo;
    if (!v.requestVideoFrameCallback) return;
    const onFrame = (): void => {
      this.frames++;
      if (this.frames % EVERY_NTH_FRAME === 0) this.read();
      v.requestVideoFrameCallback?.(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }

  private read(): void {
    const v = this.video;
    const g = this.g;
    if (!g || !v.videoWidth || !v.videoHeight) return;
    const now = Date.now();
    g.drawImage(v, 0, 0, v.videoWidth, v.videoHeight * 2 * ROW_H, 0, 0, this.canvas.width, this.canvas.height);
    const img = g.getImageData(0, 0, this.canvas.width, this.canvas.height);
    const t = decodeClock(img.data, img.width, img.height);
    if (t === null) return;
    const delay = now - t;
    if (delay < 0 || delay > 60_000) return; // not our clock
    if (this.samples.length < MAX_SAMPLES) this.samples.push(delay);
  }
}
