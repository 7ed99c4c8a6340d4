// VOD player: inline editing of title and description, and the recording's subtitles (upload
// a WebVTT file, remove one), for the room's seller (publish token) or an admin. The token from
// the link (?token=) is kept in this tab's storage.

import { ADMIN_TOKEN_KEY, APIError, TOKEN_KEY, api, el, errorText, storeToken, storedToken, titleOf, type Recording } from "../api";
import { byId } from "../common";

/** What the editor needs of the player page. */
export interface EditorPage {
  current(): Recording | null;
  apply(r: Recording): void;
  notice(text: string): void;
}

let page: EditorPage = { current: () => null, apply: () => {}, notice: () => {} };

/** Connects the editor to the page (before the first recording is applied). */
export function initEditor(p: EditorPage): void {
  page = p;
}

/** Whether the edit form is closed (the page then refreshes its fields). */
export function editorClosed(): boolean {
  return editForm.hidden === true;
}

/** The recording does not exist: nothing to edit. */
export function hideEditor(): void {
  editBtn.hidden = true;
}

// ---------------------------------------------------------------- editing

const editBtn = byId<HTMLButtonElement>("edit-btn");
const editForm = byId<HTMLFormElement>("edit-form");
const view = byId("view");
const editTitle = byId<HTMLInputElement>("edit-title");
const editDesc = byId<HTMLTextAreaElement>("edit-desc");
const editTokenField = byId("edit-token-field");
const editToken = byId<HTMLInputElement>("edit-token");
const editError = byId("edit-error");

// A token in the link (?token=, from the seller's broadcast page) is moved into this tab's
// storage and removed from the address bar.
const linkToken = new URLSearchParams(location.search).get("token");
if (linkToken) {
  storeToken(TOKEN_KEY, linkToken);
  const u = new URL(location.href);
  u.searchParams.delete("token");
  history.replaceState(null, "", u);
}

function currentToken(): string {
  return storedToken(TOKEN_KEY) || storedToken(ADMIN_TOKEN_KEY);
}

export function fillEdit(r: Recording): void {
  editTitle.value = titleOf(r);
  editDesc.value = r.description ?? "";
}

editBtn.addEventListener("click", () => {
  const rec = page.current();
  if (!rec) return;
  fillEdit(rec);
  editTokenField.hidden = !!currentToken();
  editError.hidden = true;
  view.hidden = true;
  editForm.hidden = false;
  subsForm.hidden = false;
  subsError.hidden = true;
  editTitle.focus();
});

function closeEdit(): void {
  editForm.hidden = true;
  subsForm.hidden = true;
  view.hidden = false;
  editBtn.focus();
}

byId("edit-cancel").addEventListener("click", closeEdit);
editForm.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") closeEdit();
});

editForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const rec = page.current();
  if (!rec) return;
  const title = editTitle.value.trim();
  if (!title) {
    editError.textContent = "The title cannot be empty.";
    editError.hidden = false;
    editTitle.setAttribute("aria-invalid", "true");
    editTitle.focus();
    return;
  }
  editTitle.removeAttribute("aria-invalid");
  const typed = editToken.value.trim();
  const token = typed || currentToken();
  if (!token) {
    editError.textContent = "Enter the room's publish token or an admin token to save.";
    editError.hidden = false;
    editToken.focus();
    return;
  }
  try {
    const r = await api<Recording>(`/api/recordings/${encodeURIComponent(rec.id)}`, {
      method: "PATCH",
      token,
      body: JSON.stringify({ title, description: editDesc.value }),
    });
    if (typed) storeToken(TOKEN_KEY, typed);
    page.apply(r);
    closeEdit();
    page.notice("Saved.");
  } catch (e) {
    editError.textContent =
      e instanceof APIError && (e.status === 401 || e.status === 403)
        ? `Not allowed: ${e.message}. Use the publish token of room “${rec.room}” or an admin token.`
        : `Could not save: ${errorText(e)}.`;
    editError.hidden = false;
    if (e instanceof APIError && (e.status === 401 || e.status === 403)) {
      editTokenField.hidden = false;
      editToken.focus();
    }
  }
});

// ---------------------------------------------------------------- subtitles (same token as the editor)

const subsForm = byId<HTMLFormElement>("subs-form");
const subsList = byId("subs-list");
const subsNone = byId("subs-none");
const subsFile = byId<HTMLInputElement>("subs-file");
const subsLang = byId<HTMLInputElement>("subs-lang");
const subsLabel = byId<HTMLInputElement>("subs-label");
const subsError = byId("subs-error");
const subsUpload = byId<HTMLButtonElement>("subs-upload");

// Same rule as the server (server/subtitles.go langRE): "en", "pt-BR", "zh-Hant".
const LANG_RE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$/;

export function renderSubsList(r: Recording): void {
  const subs = (r.subtitles ?? []).filter((s) => s && s.lang);
  subsList.textContent = "";
  for (const s of subs) {
    const name = s.label && s.label !== s.lang ? `${s.label} (${s.lang})` : s.lang;
    const rm = el("button", { type: "button", className: "btn btn-sm", textContent: "Remove" });
    rm.setAttribute("aria-label", `Remove subtitles ${name}`);
    rm.dataset.lang = s.lang;
    rm.addEventListener("click", () => void removeSubtitle(s.lang, name));
    const li = el("li");
    li.dataset.lang = s.lang;
    li.append(el("span", { textContent: name }), rm);
    subsList.append(li);
  }
  subsList.hidden = subs.length === 0;
  subsNone.hidden = subs.length > 0;
}

function subsFail(msg: string, focus?: HTMLElement): void {
  subsError.textContent = msg;
  subsError.hidden = false;
  focus?.focus();
}

/** The token to use, or "" after saying that one is needed. */
function subsToken(): string {
  const token = editToken.value.trim() || currentToken();
  if (!token) {
    editTokenField.hidden = false;
    subsFail("Enter the room's publish token or an admin token (in the form above) first.", editToken);
  }
  return token;
}

function subsAPIError(e: unknown, what: string): void {
  const denied = e instanceof APIError && (e.status === 401 || e.status === 403);
  if (denied) editTokenField.hidden = false;
  subsFail(
    denied ? `Not allowed: ${errorText(e)}. Use the publish token of room “${page.current()?.room ?? ""}” or an admin token.` : `Could not ${what}: ${errorText(e)}.`,
    denied ? editToken : undefined,
  );
}

subsForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const rec = page.current();
  if (!rec) return;
  subsError.hidden = true;
  for (const f of [subsFile, subsLang]) f.removeAttribute("aria-invalid");
  const file = subsFile.files?.[0];
  if (!file) {
    subsFile.setAttribute("aria-invalid", "true");
    return subsFail("Choose a WebVTT (.vtt) file.", subsFile);
  }
  const lang = subsLang.value.trim();
  if (!LANG_RE.test(lang)) {
    subsLang.setAttribute("aria-invalid", "true");
    return subsFail("Language: use a tag like en, de or pt-BR.", subsLang);
  }
  const token = subsToken();
  if (!token) return;
  const label = subsLabel.value.trim();
  subsUpload.disabled = true;
  try {
    const q = label ? `?label=${encodeURIComponent(label)}` : "";
    const r = await api<Recording>(`/api/recordings/${encodeURIComponent(rec.id)}/subtitles/${encodeURIComponent(lang)}${q}`, {
      method: "PUT",
      token,
      headers: { "Content-Type": "text/vtt" },
      body: file,
    });
    if (editToken.value.trim()) storeToken(TOKEN_KEY, editToken.value.trim());
    page.apply(r);
    subsForm.reset();
    page.notice(`Subtitles ${label || lang} added.`);
  } catch (e) {
    subsAPIError(e, "upload the subtitles");
  } finally {
    subsUpload.disabled = false;
  }
});

async function removeSubtitle(lang: string, name: string): Promise<void> {
  const rec = page.current();
  if (!rec) return;
  subsError.hidden = true;
  const token = subsToken();
  if (!token) return;
  try {
    await api<void>(`/api/recordings/${encodeURIComponent(rec.id)}/subtitles/${encodeURIComponent(lang)}`, { method: "DELETE", token });
    if (editToken.value.trim()) storeToken(TOKEN_KEY, editToken.value.trim());
    const r = { ...rec, subtitles: (rec.subtitles ?? []).filter((s) => s.lang !== lang) };
    page.apply(r);
    subsFile.focus();
    page.notice(`Subtitles ${name} removed.`);
  } catch (e) {
    subsAPIError(e, "remove the subtitles");
  }
}

subsForm.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") closeEdit();
});

