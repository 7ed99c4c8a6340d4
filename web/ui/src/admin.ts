// Admin page (/admin): admin token entry (sessionStorage; POST /api/session sets the HttpOnly
// cookie asynqmon at /admin/queues needs), live rooms with "End broadcast", recordings with
// Retry (failed) and Delete (confirmed), failed jobs with their error and "Run again", and a form
// that starts a URL import (POST /api/imports).

import {
  ADMIN_TOKEN_KEY,
  APIError,
  api,
  canRetry,
  el,
  errorText,
  formatDate,
  shortReason,
  statusBadge,
  storeToken,
  storedToken,
  subscribe,
  titleOf,
  tokenClaims,
  type Page,
  type Recording,
  type RoomInfo,
} from "./api";
import { byId } from "./common";

interface Job {
  id: string;
  queue: string;
  type: string;
  state: string;
  recording_id?: string;
  error?: string;
  retried?: number;
  max_retry?: number;
  last_failed_at?: string;
}

const announceEl = byId("announce");
const signinForm = byId<HTMLFormElement>("signin-form");
const tokenInput = byId<HTMLInputElement>("token");
const signinError = byId("signin-error");
const signedIn = byId("signed-in");
const signedInDetail = byId("signed-in-detail");
const adminEl = byId("admin");
const confirmDlg = byId<HTMLDialogElement>("confirm");

let token = storedToken(ADMIN_TOKEN_KEY);
let busy = 0;

function announce(msg: string): void {
  announceEl.textContent = "";
  window.setTimeout(() => (announceEl.textContent = msg), 30);
}

function showError(box: HTMLElement, msg: string): void {
  box.textContent = msg;
  box.hidden = !msg;
}

/** Asks for confirmation in a modal dialog; resolves true on "ok". */
function confirmAction(title: string, text: string, ok: string): Promise<boolean> {
  byId("confirm-title").textContent = title;
  byId("confirm-text").textContent = text;
  byId("confirm-ok").textContent = ok;
  confirmDlg.returnValue = "";
  confirmDlg.showModal();
  byId<HTMLButtonElement>("confirm-cancel").focus();
  // "close" is dispatched as a task: the close of a previous confirmation can still be on its
  // way when this one opens. Such a stale event finds the dialog open again and is ignored.
  return new Promise((resolve) => {
    const onClose = (): void => {
      if (confirmDlg.open) return;
      confirmDlg.removeEventListener("close", onClose);
      resolve(confirmDlg.returnValue === "ok");
    };
    confirmDlg.addEventListener("close", onClose);
  });
}

/**
 * What to say when the server refuses a token (401): never the verifier's own words ("token
 * contains an invalid number of segments"), which mean nothing to the person signing in.
 */
function refusedTokenText(serverMessage: string): string {
  if (/expired/i.test(serverMessage)) return "This token has expired. Make a new one with relaycast token --admin.";
  if (/signature/i.test(serverMessage)) return "This token was not made for this server. Make one here with relaycast token --admin.";
  return "This is not a valid admin token: paste the whole token that relaycast token --admin printed.";
}

/** A queue error without the queue's own markers ("skip retry for the task"). */
function cleanJobError(e: string): string {
  return e.replace(/:?\s*skip retry for the task\.?/gi, "").trim();
}

/**
 * A collapsed box with operator detail. With load, the first opening asks for it (the admin
 * API's log) and shows text (an older server's long error) only when that has nothing.
 */
function logBox(label: string, text: string, load?: () => Promise<string>): HTMLDetailsElement {
  const none = "No operator log is available for this recording.";
  const pre = el("pre", { textContent: load ? "" : text || none });
  const box = el("details", { className: "rec-log" }, el("summary", { textContent: label }), pre);
  if (load) {
    let loaded = false;
    box.addEventListener("toggle", async () => {
      if (!box.open || loaded) return;
      loaded = true;
      pre.textContent = "Loading…";
      let log = "";
      try {
        log = await load();
      } catch {
        /* an older server has no admin view of a recording */
      }
      pre.textContent = log || text || none;
    });
  }
  return box;
}

async function adminCall<T>(path: string, init: RequestInit = {}): Promise<T> {
  busy++;
  try {
    return await api<T>(path, { ...init, token });
  } catch (e) {
    if (e instanceof APIError && e.status === 401) {
      signOut(`${refusedTokenText(e.message)} Sign in again.`);
    }
    throw e;
  } finally {
    busy--;
  }
}

// ---------------------------------------------------------------- sign in / out

async function signIn(t: string): Promise<void> {
  token = t;
  // Check the token with a cheap admin-only call, then get the cookie for /admin/queues.
  await api("/api/admin/jobs?state=pending", { token: t });
  await api("/api/session", { method: "POST", token: t });
  storeToken(ADMIN_TOKEN_KEY, t);
  const c = tokenClaims(t);
  signedInDetail.textContent = [c?.sub ? `as ${c.sub}` : "", c?.exp ? `until ${formatDate(new Date(c.exp * 1000).toISOString())}` : ""].filter(Boolean).join(" ");
  signinForm.hidden = true;
  signedIn.hidden = false;
  adminEl.hidden = false;
  showError(signinError, "");
  await Promise.all([loadRooms(), loadRecs(true)]);
  await loadJobs(); // after the recordings: a job's row uses its recording's reason and retryable
  startEvents();
}

function signOut(reason = ""): void {
  token = "";
  storeToken(ADMIN_TOKEN_KEY, "");
  void fetch("/api/session", { method: "DELETE", credentials: "same-origin" }).catch(() => {});
  signinForm.hidden = false;
  signedIn.hidden = true;
  adminEl.hidden = true;
  stopEvents?.();
  stopEvents = null;
  showError(signinError, reason);
  tokenInput.value = "";
  tokenInput.focus();
}

signinForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const t = tokenInput.value.trim();
  if (!t) {
    showError(signinError, "Paste an admin token (relaycast token --admin).");
    tokenInput.setAttribute("aria-invalid", "true");
    tokenInput.focus();
    return;
  }
  tokenInput.removeAttribute("aria-invalid");
  try {
    await signIn(t);
    tokenInput.value = "";
    announce("Signed in.");
    byId("rooms-title").setAttribute("tabindex", "-1");
    byId("rooms-title").focus();
  } catch (e) {
    token = "";
    const msg =
      e instanceof APIError && e.status === 403
        ? "This token is not an admin token for every room. Make one with relaycast token --admin."
        : e instanceof APIError && e.status === 401
          ? refusedTokenText(e.message)
          : `Could not sign in: ${errorText(e)}.`;
    showError(signinError, msg);
    tokenInput.setAttribute("aria-invalid", "true");
    tokenInput.focus();
  }
});
byId("signout").addEventListener("click", () => {
  signOut();
  announce("Signed out.");
});

// ---------------------------------------------------------------- live rooms

const roomsBody = byId("rooms");

async function loadRooms(): Promise<void> {
  let rooms: RoomInfo[] = [];
  try {
    rooms = await api<RoomInfo[]>("/api/rooms");
  } catch (e) {
    announce(`Could not load rooms: ${errorText(e)}`);
    return;
  }
  roomsBody.textContent = "";
  for (const r of rooms) {
    const end = el("button", { className: "btn btn-sm btn-danger", type: "button", textContent: "End broadcast" });
    end.setAttribute("aria-label", `End the broadcast in ${r.room}`);
    end.addEventListener("click", async () => {
      if (!(await confirmAction(`End the broadcast in “${r.room}”?`, "The seller is disconnected now. The recording so far is kept and processed.", "End broadcast"))) {
        end.focus();
        return;
      }
      try {
        await adminCall(`/api/rooms/${encodeURIComponent(r.room)}`, { method: "DELETE" });
        announce(`Ended the broadcast in ${r.room}.`);
      } catch (e) {
        announce(`Could not end ${r.room}: ${errorText(e)}`);
      }
      await loadRooms();
      byId<HTMLButtonElement>("rooms-refresh").focus();
    });
    const watch = el("a", { className: "btn btn-sm", href: `/watch/${encodeURIComponent(r.room)}`, textContent: "Watch" });
    watch.setAttribute("aria-label", `Watch ${r.room}`);
    roomsBody.append(
      el(
        "tr",
        { dataset: { room: r.room } },
        el("td", { dataset: { label: "Room" } }, el("strong", { textContent: r.room })),
        el("td", { dataset: { label: "Viewers" }, textContent: String(r.viewers ?? 0) }),
        el("td", { dataset: { label: "Live since" }, textContent: formatDate(r.live_since) }),
        el("td", { className: "actions" }, watch, end),
      ),
    );
  }
  byId("rooms-wrap").hidden = rooms.length === 0;
  byId("rooms-empty").hidden = rooms.length > 0;
}
byId("rooms-refresh").addEventListener("click", () => void loadRooms());

// ---------------------------------------------------------------- import from URL

const importForm = byId<HTMLFormElement>("import-form");
const importURL = byId<HTMLInputElement>("import-url");
const importError = byId("import-error");
const importResult = byId("import-result");
const importSubmit = byId<HTMLButtonElement>("import-submit");

importForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(importError, "");
  importResult.hidden = true;
  const url = importURL.value.trim();
  if (!url) {
    showError(importError, "Enter the URL of a video file (http or https).");
    importURL.setAttribute("aria-invalid", "true");
    importURL.focus();
    return;
  }
  importURL.removeAttribute("aria-invalid");
  importSubmit.disabled = true;
  try {
    const body = JSON.stringify({ url, title: byId<HTMLInputElement>("import-title-input").value.trim(), room: byId<HTMLInputElement>("import-room").value.trim() });
    const res = await adminCall<{ recording_id: string }>("/api/imports", { method: "POST", body });
    const id = res.recording_id;
    importResult.replaceChildren("Importing… ", el("a", { href: `/v/${encodeURIComponent(id)}`, textContent: `/v/${id}` }));
    importResult.hidden = false;
    importForm.reset();
    announce("Import started: the recording appears in the list below and is processed like an upload.");
  } catch (e) {
    showError(importError, `Import refused: ${errorText(e)}`);
    importURL.setAttribute("aria-invalid", "true");
    importURL.focus();
  } finally {
    importSubmit.disabled = false;
  }
});

// ---------------------------------------------------------------- recordings

const recsBody = byId("recs");
const recsMore = byId<HTMLButtonElement>("recs-more");
const statusFilter = byId<HTMLSelectElement>("status-filter");
let recsCursor = "";
const recRows = new Map<string, HTMLTableRowElement>();
const recData = new Map<string, Recording>(); // the rows' recordings, for the jobs table

function recRow(r: Recording): HTMLTableRowElement {
  const title = titleOf(r);
  const actions = el("td", { className: "actions" });
  if (r.status === "failed" && canRetry(r)) {
    const retry = el("button", { className: "btn btn-sm btn-primary", type: "button", textContent: "Retry" });
    retry.setAttribute("aria-label", `Retry processing ${title}`);
    retry.addEventListener("click", () => void retryRec(r, retry));
    actions.append(retry);
  }
  const del = el("button", { className: "btn btn-sm", type: "button", textContent: "Delete" });
  del.setAttribute("aria-label", `Delete ${title}`);
  del.disabled = r.status === "recording";
  if (del.disabled) del.title = "Still recording: end the broadcast first";
  del.addEventListener("click", () => void deleteRec(r, del));
  actions.append(del);

  const statusCell = el("td", { dataset: { label: "Status" } }, statusBadge(r));
  if (r.status === "processing" && typeof r.progress === "number" && r.progress > 0) {
    statusCell.append(" ", el("span", { className: "muted small", textContent: `${Math.round(r.progress)}%` }));
  }
  if (r.status === "failed") {
    statusCell.append(el("div", { className: "rec-error wrap", textContent: shortReason(r.error) }));
    if (!canRetry(r)) statusCell.append(el("div", { className: "muted small", textContent: "Retrying cannot help: the file itself is the problem." }));
    // The operator detail: the C1 log (admin API), or an older server's long error text.
    const legacy = r.error && !shortReason(r.error).startsWith(r.error.trim()) ? r.error : "";
    const load = async (): Promise<string> => (await adminCall<Recording>(`/api/admin/recordings/${encodeURIComponent(r.id)}`)).log ?? "";
    statusCell.append(r.log ? logBox("Operator log", r.log) : logBox("Operator log", legacy, load));
  }
  return el(
    "tr",
    { dataset: { id: r.id, status: String(r.status) } },
    el("td", { dataset: { label: "Title" }, className: "wrap" }, el("a", { href: `/v/${encodeURIComponent(r.id)}`, textContent: title })),
    el("td", { dataset: { label: "Room" }, textContent: r.room }),
    el("td", { dataset: { label: "Recorded" }, textContent: formatDate(r.started_at) }),
    statusCell,
    actions,
  );
}

function putRec(r: Recording, where: "append" | "inplace" | "prepend"): void {
  const old = recRows.get(r.id);
  const filter = statusFilter.value;
  if (filter && r.status !== filter) {
    // Keep a row that changed state under the user's hands (e.g. retried): it updates in place.
    if (!old) return;
  }
  const row = recRow(r);
  recData.set(r.id, r);
  if (old) {
    const focusedAction = old.contains(document.activeElement);
    old.replaceWith(row);
    if (focusedAction) (row.querySelector("button:not(:disabled), a") as HTMLElement | null)?.focus();
  } else if (where === "append") recsBody.append(row);
  else if (where === "prepend") recsBody.prepend(row);
  else return;
  recRows.set(r.id, row);
  byId("recs-wrap").hidden = false;
  byId("recs-empty").hidden = true;
}

async function loadRecs(reset: boolean): Promise<void> {
  if (reset) {
    recsCursor = "";
    recsBody.textContent = "";
    recRows.clear();
    recData.clear();
  }
  const q = new URLSearchParams({ limit: "25" });
  if (recsCursor) q.set("cursor", recsCursor);
  if (statusFilter.value) q.set("status", statusFilter.value);
  try {
    const page = await api<Page>(`/api/recordings?${q}`);
    for (const r of page.recordings ?? []) putRec(r, "append");
    recsCursor = page.next_cursor ?? "";
  } catch (e) {
    announce(`Could not load recordings: ${errorText(e)}`);
  }
  recsMore.hidden = !recsCursor;
  byId("recs-wrap").hidden = recRows.size === 0;
  byId("recs-empty").hidden = recRows.size > 0;
}
recsMore.addEventListener("click", () => void loadRecs(false));
statusFilter.addEventListener("change", () => void loadRecs(true));

async function retryRec(r: Recording, btn: HTMLButtonElement): Promise<void> {
  btn.disabled = true;
  try {
    const updated = await adminCall<Recording>(`/api/recordings/${encodeURIComponent(r.id)}/retry`, { method: "POST" });
    putRec(updated, "inplace");
    announce(`Retrying ${titleOf(r)}: processing again.`);
    await loadJobs();
  } catch (e) {
    btn.disabled = false;
    announce(`Retry failed: ${errorText(e)}`);
    const row = recRows.get(r.id);
    row?.querySelector(".rec-error")?.replaceWith(el("div", { className: "rec-error wrap", textContent: `Retry refused: ${errorText(e)}` }));
  }
}

async function deleteRec(r: Recording, btn: HTMLButtonElement): Promise<void> {
  const title = titleOf(r);
  if (!(await confirmAction(`Delete “${title}”?`, "The video, its renditions and its raw recording are removed for good.", "Delete"))) {
    btn.focus();
    return;
  }
  try {
    await adminCall(`/api/recordings/${encodeURIComponent(r.id)}`, { method: "DELETE" });
    removeRec(r.id);
    announce(`Deleted ${title}.`);
    statusFilter.focus();
  } catch (e) {
    announce(`Could not delete: ${errorText(e)}`);
    btn.focus();
  }
}

function removeRec(id: string): void {
  recRows.get(id)?.remove();
  recRows.delete(id);
  recData.delete(id);
  byId("recs-wrap").hidden = recRows.size === 0;
  byId("recs-empty").hidden = recRows.size > 0;
}

// ---------------------------------------------------------------- jobs

const jobsBody = byId("jobs");

async function loadJobs(): Promise<void> {
  let jobs: Job[] = [];
  try {
    jobs = (await adminCall<{ jobs: Job[] }>("/api/admin/jobs?state=archived")).jobs ?? [];
  } catch (e) {
    announce(`Could not load jobs: ${errorText(e)}`);
    return;
  }
  jobsBody.textContent = "";
  for (const j of jobs) {
    const rec = j.recording_id ? recData.get(j.recording_id) : undefined;
    const raw = cleanJobError(j.error ?? "");
    const errCell = el("td", { dataset: { label: "Error" }, className: "wrap" });
    errCell.append(el("div", { className: "job-error rec-error", textContent: rec?.error ? shortReason(rec.error) : shortReason(raw) }));
    if (raw) errCell.append(logBox("Operator log", raw));
    const actions = el("td", { className: "actions" });
    jobsBody.append(
      el(
        "tr",
        { dataset: { job: j.id } },
        el("td", { dataset: { label: "Job" } }, el("div", { textContent: j.type.replace(/^relaycast:/, "") }), el("div", { className: "mono muted", textContent: `${j.queue} · ${j.id}` })),
        recCell(j),
        errCell,
        el("td", { dataset: { label: "Tries" }, textContent: `${(j.retried ?? 0) + 1} of ${(j.max_retry ?? 0) + 1}` }),
        el("td", { dataset: { label: "Failed" }, textContent: formatDate(j.last_failed_at) }),
        actions,
      ),
    );
    if (rec && !canRetry(rec)) {
      actions.append(el("span", { className: "muted small", textContent: "Cannot help to run again" }));
      continue;
    }
    const run = el("button", { className: "btn btn-sm", type: "button", textContent: "Run again" });
    run.setAttribute("aria-label", `Run job ${j.id} again`);
    run.addEventListener("click", async () => {
      run.disabled = true;
      try {
        await adminCall(`/api/admin/jobs/${encodeURIComponent(j.queue)}/${encodeURIComponent(j.id)}/run`, { method: "POST" });
        announce(`Job ${j.id} queued to run again.`);
      } catch (e) {
        announce(`Could not run the job: ${errorText(e)}`);
      }
      await loadJobs();
      byId<HTMLButtonElement>("jobs-refresh").focus();
    });
    actions.append(run);
  }
  byId("jobs-wrap").hidden = jobs.length === 0;
  byId("jobs-empty").hidden = jobs.length > 0;
  byId("jobs-title").textContent = jobs.length ? `Failed jobs (${jobs.length})` : "Failed jobs";
}
function recCell(j: Job): HTMLTableCellElement {
  const cell = el("td", { dataset: { label: "Recording" }, className: "mono" });
  if (j.recording_id) cell.append(el("a", { href: `/v/${encodeURIComponent(j.recording_id)}`, textContent: j.recording_id }));
  return cell;
}
byId("jobs-refresh").addEventListener("click", () => void loadJobs());

// ---------------------------------------------------------------- live updates

let stopEvents: (() => void) | null = null;
let jobsTimer = 0;

function startEvents(): void {
  stopEvents?.();
  stopEvents = subscribe("", {
    recording: (r) => {
      putRec(r, recRows.has(r.id) ? "inplace" : "prepend");
      if (r.status === "recording" || r.status === "processing") void loadRooms();
      if (r.status === "failed" || r.status === "ready") {
        window.clearTimeout(jobsTimer);
        jobsTimer = window.setTimeout(() => void loadJobs(), 300);
      }
    },
    deleted: removeRec,
  });
}

// Automation hook for tests (read-only).
Object.defineProperty(window, "relaycast", {
  value: Object.freeze({
    page: "admin",
    get signedIn() {
      return !!token && !adminEl.hidden;
    },
    get busy() {
      return busy > 0;
    },
  }),
});

if (token) {
  signIn(token).catch((e) => signOut(e instanceof APIError && e.status === 401 ? `${refusedTokenText(e.message)} Sign in again.` : `Sign in again: ${errorText(e)}`));
} else {
  tokenInput.focus();
}
