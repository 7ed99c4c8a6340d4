// Upload page: POST /api/uploads, PUT each part straight to storage (presigned S3 URLs or
// relaycast's signed URLs) with XMLHttpRequest upload progress, complete, then follow the
// transcode live through /api/events until the video is ready (link to /v/{id}).

import { ROOM_RE, byId, param } from "./common";
import { shortReason } from "./api";

interface Part {
  number: number;
  url: string;
  etag?: string; // set when resuming: the part arrived already
}

interface UploadStart {
  id: string;
  expires_at: string;
  part_size: number;
  parts: Part[];
  complete_url: string;
}

interface Recording {
  id: string;
  status: "recording" | "processing" | "ready" | "failed";
  progress?: number;
  error?: string;
  title?: string;
}

type State = "waiting" | "uploading" | "processing" | "ready" | "failed";

interface Item {
  name: string;
  size: number;
  state: State;
  progress: number; // 0..100 of the current phase
  sent: number; // 0..100 of the bytes uploaded
  resumed: number; // parts an earlier attempt had sent already
  id?: string;
  error?: string;
}

// Page state for people and tests (window.relaycast).
const page = { state: "idle" as "idle" | "busy", error: "", uploads: [] as Item[] };
(window as unknown as { relaycast: typeof page }).relaycast = page;

const form = byId<HTMLFormElement>("upload-form");
const tokenInput = byId<HTMLInputElement>("upload-token");
const roomInput = byId<HTMLInputElement>("upload-room");
const titleInput = byId<HTMLInputElement>("upload-title-input");
const fileInput = byId<HTMLInputElement>("upload-file");
const errorBox = byId("upload-error");
const submit = byId<HTMLButtonElement>("upload-submit");
const list = byId<HTMLUListElement>("uploads");
const empty = byId("uploads-empty");
const summary = byId("uploads-summary");

tokenInput.value = param("token");
roomInput.value = param("room");
if (tokenInput.value && history.replaceState) {
  // Keep the token out of the address bar (and of screenshots, history, shared links).
  const url = new URL(location.href);
  url.searchParams.delete("token");
  history.replaceState(null, "", url.toString());
}

const PART_ATTEMPTS = 4;

class ApiError extends Error {}

function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function showError(msg: string): void {
  page.error = msg;
  errorBox.textContent = msg;
  errorBox.hidden = msg === "";
}

/** The "error" of a JSON error body, or a fallback naming the status. */
function errorText(status: number, body: string, what: string): string {
  try {
    const j = JSON.parse(body) as { error?: string };
    if (j && typeof j.error === "string" && j.error) return j.error;
  } catch {
    /* not JSON: an S3 XML error, a proxy page */
  }
  const code = body.match(/<Code>([^<]+)<\/Code>/);
  if (code) return `${what}: storage answered ${status} ${code[1]}`;
  return `${what}: HTTP ${status}`;
}

async function api<T>(method: string, url: string, token: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("cannot reach the server; check your connection");
  }
  const text = await res.text();
  if (!res.ok) throw new ApiError(errorText(res.status, text, `${method} ${url}`));
  return JSON.parse(text) as T;
}

/** PUTs one part, reporting bytes sent; resolves with the ETag. 4xx answers are final. */
function putPart(url: string, blob: Blob, onProgress: (sent: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        const etag = xhr.getResponseHeader("ETag");
        if (!etag) {
          reject(new ApiError("the storage did not expose the ETag header: the bucket's CORS must list ETag in ExposeHeaders (see the README)"));
          return;
        }
        resolve(etag);
        return;
      }
      const err = new ApiError(errorText(xhr.status, xhr.responseText, "uploading"));
      (err as ApiError & { final?: boolean }).final = xhr.status >= 400 && xhr.status < 500;
      reject(err);
    };
    xhr.onerror = () => reject(new ApiError("the upload was interrupted (network error, or the storage refused the request: check its CORS)"));
    xhr.send(blob);
  });
}

async function sendParts(file: File, up: UploadStart, onProgress: (sent: number) => void, onSkip: () => void): Promise<{ number: number; etag: string }[]> {
  const done: { number: number; etag: string }[] = [];
  let before = 0;
  for (const p of up.parts) {
    const from = (p.number - 1) * up.part_size;
    const blob = file.slice(from, Math.min(file.size, from + up.part_size));
    if (p.etag) {
      // Resumed upload: this part is on the server already.
      done.push({ number: p.number, etag: p.etag });
      before += blob.size;
      onSkip();
      onProgress(before);
      continue;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const etag = await putPart(p.url, blob, (sent) => onProgress(before + sent));
        done.push({ number: p.number, etag });
        break;
      } catch (e) {
        const final = (e as { final?: boolean }).final;
        if (final || attempt >= PART_ATTEMPTS) throw e;
        // A network error or 5xx: the same part again after a pause (parts are idempotent).
        await new Promise((r) => setTimeout(r, 1000 * 2 ** (attempt - 1)));
      }
    }
    before += blob.size;
  }
  return done;
}

// ---- rendering ----

interface Row {
  li: HTMLLIElement;
  status: HTMLElement;
  pct: HTMLElement;
  bar: HTMLElement;
  fill: HTMLElement;
  link: HTMLAnchorElement;
  error: HTMLElement;
}

const rows = new Map<Item, Row>();

function addRow(item: Item): void {
  const li = document.createElement("li");
  li.className = "upload-item";
  const head = document.createElement("div");
  head.className = "upload-head";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = item.name;
  name.title = item.name;
  const size = document.createElement("span");
  size.className = "upload-size";
  size.textContent = formatBytes(item.size);
  head.append(name, size);

  const bar = document.createElement("div");
  bar.className = "meter";
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-label", `Progress of ${item.name}`);
  const fill = document.createElement("span");
  bar.append(fill);

  const line = document.createElement("div");
  line.className = "upload-status";
  const status = document.createElement("span");
  status.setAttribute("role", "status");
  const pct = document.createElement("span");
  const link = document.createElement("a");
  link.hidden = true;
  link.textContent = "Watch →";
  line.append(status, pct, link);

  const error = document.createElement("p");
  error.className = "upload-error";
  error.setAttribute("role", "alert");
  error.hidden = true;

  li.append(head, bar, line, error);
  list.prepend(li);
  rows.set(item, { li, status, pct, bar, fill, link, error });
  render(item);
}

const LABELS: Record<State, string> = {
  waiting: "Waiting",
  uploading: "Uploading",
  processing: "Processing",
  ready: "Ready",
  failed: "Failed",
};

function render(item: Item): void {
  const row = rows.get(item);
  if (!row) return;
  const pct = Math.max(0, Math.min(100, Math.round(item.progress)));
  row.li.dataset.state = item.state;
  row.status.textContent = LABELS[item.state];
  row.pct.textContent = item.state === "uploading" || item.state === "processing" ? `${pct} %` : "";
  row.fill.style.width = `${item.state === "ready" ? 100 : pct}%`;
  row.bar.setAttribute("aria-valuenow", String(item.state === "ready" ? 100 : pct));
  row.bar.setAttribute("aria-valuetext", `${LABELS[item.state]} ${pct} %`);
  if (item.state === "ready" && item.id) {
    row.link.href = `/v/${encodeURIComponent(item.id)}`;
    row.link.setAttribute("aria-label", `Watch ${item.name}`);
    row.link.hidden = false;
  }
  row.error.textContent = item.error ?? "";
  row.error.hidden = !item.error;
  const n = page.uploads.length;
  const ready = page.uploads.filter((u) => u.state === "ready").length;
  const failed = page.uploads.filter((u) => u.state === "failed").length;
  summary.textContent = `${n} ${n === 1 ? "file" : "files"}: ${ready} ready${failed ? `, ${failed} failed` : ""}`;
  empty.hidden = n > 0;
}

function set(item: Item, patch: Partial<Item>): void {
  Object.assign(item, patch);
  render(item);
}

// ---- live status ----

const following = new Map<string, Item>();
let events: EventSource | null = null;

function applyRecording(item: Item, r: Recording): void {
  if (r.status === "ready") set(item, { state: "ready", progress: 100, error: undefined });
  else if (r.status === "failed") set(item, { state: "failed", error: shortReason(r.error) });
  following.delete(item.id ?? "");
  if (r.status === "processing" || r.status === "recording") following.set(r.id, item);
}

function refresh(id: string, item: Item): void {
  void fetch(`/api/recordings/${encodeURIComponent(id)}`)
    .then((res) => (res.ok ? (res.json() as Promise<Recording>) : null))
    .then((r) => r && applyRecording(item, r))
    .catch(() => undefined);
}

function follow(item: Item): void {
  if (!item.id) return;
  following.set(item.id, item);
  if (events) refresh(item.id, item); // it may have finished before we listened
  if (!events) {
    events = new EventSource("/api/events");
    events.addEventListener("recording", (e) => {
      const env = JSON.parse((e as MessageEvent).data) as { id: string; data: Recording };
      const it = following.get(env.id);
      if (it) applyRecording(it, env.data);
    });
    events.addEventListener("progress", (e) => {
      const env = JSON.parse((e as MessageEvent).data) as { id: string; data: { progress?: number; chunk_progress?: number } };
      const it = following.get(env.id);
      if (!it || it.state !== "processing") return;
      const p = env.data.progress !== undefined && env.data.progress >= 0 ? env.data.progress : env.data.chunk_progress ?? 0;
      set(it, { progress: Math.max(it.progress, p) });
    });
    events.onopen = () => {
      // (Re)connected: read the current state, in case an event was missed meanwhile.
      for (const [id, it] of following) refresh(id, it);
    };
  }
}

// ---- the form ----

// Resuming: the id of an unfinished upload of the same file (name, size, date) to the same room
// is kept in localStorage; picking the file again after a reload or a lost connection continues
// it, sending only the parts the server does not have (GET /api/uploads/{id}).
const SESSION_PREFIX = "relaycast-upload:";

function sessionKey(room: string, f: File): string {
  return `${SESSION_PREFIX}${room}:${f.name}:${f.size}:${f.lastModified}`;
}

function session(key: string, id?: string | null): string | null {
  try {
    if (id === undefined) return localStorage.getItem(key);
    if (id === null) localStorage.removeItem(key);
    else localStorage.setItem(key, id);
  } catch {
    /* storage disabled: uploads simply do not resume */
  }
  return null;
}

async function startOrResume(file: File, token: string, room: string, title: string): Promise<UploadStart> {
  const key = sessionKey(room, file);
  const saved = session(key);
  if (saved) {
    try {
      return await api<UploadStart>("GET", `/api/uploads/${encodeURIComponent(saved)}`, token);
    } catch {
      session(key, null); // expired or completed: start over
    }
  }
  const up = await api<UploadStart>("POST", "/api/uploads", token, {
    room,
    title: title || file.name.replace(/\.[^.]+$/, ""),
    filename: file.name,
    size: file.size,
    content_type: file.type,
  });
  session(key, up.id);
  return up;
}

async function uploadOne(item: Item, file: File, token: string, room: string, title: string): Promise<void> {
  set(item, { state: "uploading", progress: 0 });
  const up = await startOrResume(file, token, room, title);
  item.id = up.id;
  let last = 0;
  const parts = await sendParts(file, up, (sent) => {
    const now = performance.now();
    if (now - last < 100 && sent < file.size) return;
    last = now;
    set(item, { progress: (100 * sent) / file.size, sent: (100 * sent) / file.size });
  }, () => item.resumed++);
  set(item, { progress: 100, sent: 100 });
  let done: { recording_id: string };
  try {
    done = await api<{ recording_id: string }>("POST", up.complete_url, token, { parts });
  } catch (e) {
    session(sessionKey(room, file), null); // the server refused these parts: start over next time
    throw e;
  }
  session(sessionKey(room, file), null);
  item.id = done.recording_id;
  set(item, { state: "processing", progress: 0 });
  follow(item);
}

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  showError("");
  const token = tokenInput.value.trim();
  const room = roomInput.value.trim();
  const files = Array.from(fileInput.files ?? []);
  if (!token) {
    showError("Enter a publish token for the room.");
    tokenInput.focus();
    return;
  }
  if (!ROOM_RE.test(room)) {
    showError("Enter a room name: 1-64 letters, digits, _ or -, starting with a letter or digit.");
    roomInput.focus();
    return;
  }
  if (files.length === 0) {
    showError("Pick at least one video file.");
    fileInput.focus();
    return;
  }
  const title = titleInput.value.trim();
  const items = files.map((f) => {
    const item: Item = { name: f.name, size: f.size, state: "waiting", progress: 0, sent: 0, resumed: 0 };
    page.uploads.push(item);
    addRow(item);
    return item;
  });
  fileInput.value = "";
  page.state = "busy";
  submit.disabled = true;
  void (async () => {
    for (let i = 0; i < files.length; i++) {
      const t = files.length > 1 && title ? `${title} (${i + 1})` : title;
      try {
        await uploadOne(items[i], files[i], token, room, t);
      } catch (e) {
        set(items[i], { state: "failed", error: e instanceof Error ? e.message : String(e) });
      }
    }
    page.state = "idle";
    submit.disabled = false;
  })();
});
