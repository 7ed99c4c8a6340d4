// Capture helpers for the broadcast page: constraints, device lists, a mic meter.

export const VIDEO_MAX_BITRATE = 2_500_000; // bits per second
export const VIDEO_MAX_FRAMERATE = 30;

export function cameraConstraints(deviceId: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 30, max: 30 },
  };
}

export function micConstraints(deviceId: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  };
}

export function mediaSupported(): string | null {
  if (!window.isSecureContext) {
    return "Camera and microphone need a secure page: open this link over HTTPS (or on localhost).";
  }
  if (!navigator.mediaDevices?.getUserMedia) return "This browser cannot capture a camera or microphone.";
  if (typeof RTCPeerConnection === "undefined") return "This browser does not support WebRTC.";
  return null;
}

/** Human text for a getUserMedia/getDisplayMedia failure. */
export function describeMediaError(err: unknown, what: string): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Access to the ${what} was blocked. Allow it in the browser's site settings, then try again.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No ${what} was found. Plug one in or pick another device.`;
    case "NotReadableError":
    case "AbortError":
      return `The ${what} is busy or failed to start. Close other apps using it and try again.`;
    default:
      return `Could not start the ${what}${err instanceof Error && err.message ? `: ${err.message}` : "."}`;
  }
}

/** Fills a <select> with the devices of one kind, keeping `current` selected. */
export function fillDeviceSelect(
  select: HTMLSelectElement,
  devices: MediaDeviceInfo[],
  kind: MediaDeviceKind,
  fallback: string,
  current: string,
): void {
  const list = devices.filter((d) => d.kind === kind && d.deviceId);
  select.textContent = "";
  if (list.length === 0) {
    select.append(new Option(fallback, ""));
    return;
  }
  list.forEach((d, i) => {
    const label = d.label || `${fallback} ${i + 1}`;
    select.append(new Option(label, d.deviceId, false, d.deviceId === current));
  });
}

/** Drives a small level meter from an audio track (best effort). */
export class MicMeter {
  private ctx: AudioContext | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private raf = 0;
  private readonly bar: HTMLElement;

  constructor(private readonly meter: HTMLElement) {
    this.bar = meter.querySelector("span") ?? meter;
  }

  attach(track: MediaStreamTrack | null): void {
    this.detach();
    if (!track || typeof AudioContext === "undefined") return;
    try {
      this.ctx ??= new AudioContext();
      const analyser = this.ctx.createAnalyser();
      analyser.fftSize = 512;
      this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      this.source.connect(analyser);
      const buf = new Float32Array(analyser.fftSize);
      let lastShown = -1;
      const tick = () => {
        analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        const rms = Math.sqrt(sum / buf.length);
        const level = Math.min(100, Math.round(Math.sqrt(rms) * 140));
        if (level !== lastShown) {
          this.bar.style.width = `${level}%`;
          this.meter.setAttribute("aria-valuenow", String(level));
          lastShown = level;
        }
        this.raf = requestAnimationFrame(tick);
      };
      this.raf = requestAnimationFrame(tick);
    } catch {
      /* the meter is a nicety; never let it break capture */
    }
  }

  /** Browsers start an AudioContext suspended until a user gesture. */
  resume(): void {
    void this.ctx?.resume().catch(() => {});
  }

  detach(): void {
    cancelAnimationFrame(this.raf);
    this.source?.disconnect();
    this.source = null;
    this.bar.style.width = "0%";
    this.meter.setAttribute("aria-valuenow", "0");
  }
}
