// The live room's chat panel: history on join, new messages live (deduplicated by id, so a
// resume after a reconnect shows nothing twice), send with errors as sentences, a guest's name
// prompt, and for moderators: delete a message, time out or ban its author, slow mode, links and
// guest chat. Every message is rendered with textContent only: what people type is never HTML.

import { type LiveRoom, LiveError } from "./room";
import type { ChatMessage, Joined, Settings } from "./types";

const MAX_SHOWN = 200;
const MAX_BYTES = 2048;
const TIMEOUT_S = 300;

export interface ChatOptions {
  /** Shown to a guest who may not chat: where to sign in ("" = no sign-in on this server). */
  signIn?: () => { href: string; text: string } | null;
  /** The guest chose a name: the page joins again with it. */
  onName?: (name: string) => void;
  /** A heading above the messages (the side panels; the phone overlay has none). */
  title?: string;
}

/** What a chat error code means, as a sentence for the person typing. */
export function chatErrorText(code: string, settings: Settings, message = ""): string {
  switch (code) {
    case "too_long":
      return "That message is too long: keep it under 2,000 characters.";
    case "rate_limited":
      return "You are sending messages too fast. Wait a moment and try again.";
    case "slow_mode":
      return settings.slow_mode_s > 0
        ? `Slow mode is on: one message every ${settings.slow_mode_s} seconds.`
        : "Slow mode is on: wait a little before your next message.";
    case "links_off":
      return "Links are not allowed in this chat.";
    case "timed_out":
      return "A moderator paused your chat for a while.";
    case "banned":
      return "A moderator removed you from this chat.";
    case "guests_off":
      return "Guests can't chat in this room right now. Sign in to chat.";
    case "unauthorized":
    case "forbidden":
      return "Your sign-in doesn't allow chatting in this room.";
    case "bad_request":
      return "That message can't be sent: it is empty or has characters that can't be shown.";
    case "not_joined":
    case "offline":
      return "Not connected to the room right now: reconnecting…";
    case "timeout":
      return "The server did not answer. Try again.";
    case "not_found":
      return "That message is gone already.";
    default:
      return message ? `The message was not sent: ${message}` : "The message was not sent.";
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export class ChatPanel {
  readonly root: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly error: HTMLParagraphElement;
  private readonly form: HTMLFormElement;
  private readonly input: HTMLInputElement;
  private readonly nameForm: HTMLFormElement;
  private readonly nameInput: HTMLInputElement;
  private readonly note: HTMLParagraphElement;
  private readonly settingsBox: HTMLDetailsElement;
  private readonly slow: HTMLSelectElement;
  private readonly links: HTMLInputElement;
  private readonly guests: HTMLInputElement;
  private readonly modeLine: HTMLParagraphElement;
  private readonly shown = new Map<number, HTMLLIElement>();
  private errorTimer = 0;
  private timedOutUntil = 0;
  private banned = false;
  /** The row under the messages: the message (or name) form, and room for a page's buttons (hearts). */
  readonly bar: HTMLElement;

  constructor(
    private readonly room: LiveRoom,
    mount: HTMLElement,
    private readonly opts: ChatOptions = {},
  ) {
    this.root = el("section", "chat");
    this.root.setAttribute("aria-label", "Chat");
    if (opts.title) {
      const head = el("div", "chat-head");
      head.append(el("h2", "chat-title", opts.title));
      this.root.append(head);
    }
    this.list = el("ol", "chat-list");
    this.list.setAttribute("aria-live", "polite");
    this.list.setAttribute("aria-relevant", "additions");
    this.modeLine = el("p", "chat-mode small");
    this.modeLine.hidden = true;
    this.error = el("p", "chat-error small");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;

    this.form = el("form", "chat-form");
    this.input = el("input", "input chat-input");
    this.input.type = "text";
    this.input.name = "text";
    this.input.autocomplete = "off";
    this.input.enterKeyHint = "send";
    this.input.placeholder = "Say something…";
    this.input.setAttribute("aria-label", "Chat message");
    const send = el("button", "btn btn-primary chat-send", "Send");
    send.type = "submit";
    this.form.append(this.input, send);
    this.form.hidden = true;
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.sendText();
    });

    this.nameForm = el("form", "chat-form chat-name-form");
    this.nameInput = el("input", "input");
    this.nameInput.type = "text";
    this.nameInput.maxLength = 32;
    this.nameInput.setAttribute("autocomplete", "nickname");
    this.nameInput.placeholder = "Your name";
    this.nameInput.setAttribute("aria-label", "Your name in the chat");
    const join = el("button", "btn chat-join", "Join the chat");
    join.type = "submit";
    this.nameForm.append(this.nameInput, join);
    this.nameForm.hidden = true;
    this.nameForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = this.nameInput.value.trim().replace(/\s+/g, " ");
      if (!name) {
        this.showError("Type a name to chat under.");
        return;
      }
      this.opts.onName?.(name);
    });

    this.note = el("p", "chat-note small");
    this.note.hidden = true;

    // Moderators: the room's chat settings.
    this.settingsBox = el("details", "chat-settings");
    this.settingsBox.append(el("summary", "", "Chat settings"));
    const grid = el("div", "chat-settings-grid");
    const slowLabel = el("label", "small", "Slow mode ");
    this.slow = el("select", "select chat-slow");
    for (const [v, t] of [
      ["0", "Off"],
      ["5", "5 s"],
      ["10", "10 s"],
      ["30", "30 s"],
      ["60", "1 min"],
    ]) this.slow.append(new Option(t, v));
    slowLabel.append(this.slow);
    const linksLabel = el("label", "check small");
    this.links = el("input");
    this.links.type = "checkbox";
    this.links.className = "chat-links";
    linksLabel.append(this.links, " Links allowed");
    const guestsLabel = el("label", "check small");
    this.guests = el("input");
    this.guests.type = "checkbox";
    this.guests.className = "chat-guests";
    guestsLabel.append(this.guests, " Guests may chat");
    grid.append(slowLabel, linksLabel, guestsLabel);
    this.settingsBox.append(grid);
    this.settingsBox.hidden = true;
    this.settingsBox.open = !!opts.title; // the sellers' side panels show them; the phone overlay folds them
    for (const c of [this.slow, this.links, this.guests]) c.addEventListener("change", () => void this.saveSettings());

    this.bar = el("div", "chat-bar");
    this.bar.append(this.form, this.nameForm);
    this.root.append(this.settingsBox, this.list, this.modeLine, this.error, this.bar, this.note);
    mount.append(this.root);

    this.list.addEventListener("click", (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
      if (b) void this.moderate(b);
    });

    room.onJoined((j, fresh) => this.onJoined(j, fresh));
    room.on("chat", (d) => this.add(d as ChatMessage));
    room.on("chat.deleted", (d) => this.remove((d as { id: number }).id));
    room.on("room.settings", () => this.render());
    room.on("user.timeout", (d) => {
      const t = d as { subject: string; until: number };
      if (t.subject === room.you?.subject) {
        this.timedOutUntil = t.until;
        this.showError(`A moderator paused your chat until ${clock(t.until)}.`, 0);
      }
    });
    room.on("user.ban", (d) => {
      if ((d as { subject: string }).subject === room.you?.subject) {
        this.banned = true;
        this.showError("A moderator removed you from this chat.", 0);
        this.render();
      }
    });
    room.on("user.unban", (d) => {
      if ((d as { subject: string }).subject === room.you?.subject) {
        this.banned = false;
        this.timedOutUntil = 0;
        this.hideError();
        this.render();
      }
    });
  }

  /** The messages on screen, oldest first (automation and tests). */
  get messages(): { id: number; name: string; text: string }[] {
    return [...this.shown.entries()].map(([id, li]) => ({
      id,
      name: li.querySelector(".chat-name")?.textContent ?? "",
      text: li.querySelector(".chat-text")?.textContent ?? "",
    }));
  }

  private onJoined(j: Joined, fresh: boolean): void {
    if (fresh) {
      this.list.textContent = "";
      this.shown.clear();
    }
    for (const m of j.chat ?? []) this.add(m);
    this.render();
  }

  /** Who may do what, from the join and the room's settings. */
  private render(): void {
    const you = this.room.you;
    const s = this.room.settings;
    const guest = !you || you.guest;
    const named = !guest || !!this.room.chosenName;
    const guestsOff = guest && !s.guest_chat;
    // Tokens with chat (or a managing grant) always; guests and other tokens while guest chat is on.
    const mayChat = !!you && (guest ? s.guest_chat && named : s.guest_chat || this.room.has("chat") || this.room.moderator);
    this.form.hidden = !mayChat || this.banned;
    this.nameForm.hidden = !(guest && s.guest_chat && !named && !!you);
    let note = "";
    let signIn: { href: string; text: string } | null = null;
    if (guestsOff) {
      note = "Guests can't chat in this room right now.";
      signIn = this.opts.signIn?.() ?? null;
    } else if (you && !guest && !mayChat) note = "Only signed-in chatters can write here right now.";
    this.note.textContent = note;
    if (signIn) {
      const a = el("a", "", signIn.text);
      a.href = signIn.href;
      this.note.append(" ", a);
    }
    this.note.hidden = !note;

    const mode: string[] = [];
    if (s.slow_mode_s > 0) mode.push(`Slow mode: one message every ${s.slow_mode_s} s`);
    if (!s.links) mode.push("links off");
    this.modeLine.textContent = mode.join(" · ");
    this.modeLine.hidden = mode.length === 0;

    this.settingsBox.hidden = !this.room.moderator;
    this.slow.value = [0, 5, 10, 30, 60].includes(s.slow_mode_s) ? String(s.slow_mode_s) : "0";
    if (![...this.slow.options].some((o) => o.value === String(s.slow_mode_s))) {
      this.slow.append(new Option(`${s.slow_mode_s} s`, String(s.slow_mode_s)));
      this.slow.value = String(s.slow_mode_s);
    }
    this.links.checked = s.links;
    this.guests.checked = s.guest_chat;
    this.root.classList.toggle("chat-moderator", this.room.moderator);
    for (const li of this.shown.values()) this.decorate(li);
  }

  private add(m: ChatMessage): void {
    if (!m || typeof m.id !== "number" || this.shown.has(m.id)) return;
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 48;
    const li = el("li", "chat-msg");
    li.dataset.id = String(m.id);
    li.dataset.subject = m.subject;
    const name = el("span", "chat-name", m.name || "someone");
    li.append(name);
    if (m.role === "seller" || m.role === "moderator") {
      li.append(el("span", `chat-role chat-role-${m.role}`, m.role === "seller" ? "Seller" : "Mod"));
    }
    if (m.guest) li.classList.add("chat-guest");
    if (m.subject && m.subject === this.room.you?.subject) li.classList.add("chat-mine");
    li.append(el("span", "chat-text", m.text)); // textContent: HTML stays text
    if (m.at) li.title = clock(m.at);
    this.decorate(li);
    // Keep id order (a resumed history can arrive after newer live messages).
    let before: HTMLLIElement | null = null;
    for (const [id, other] of this.shown) {
      if (id > m.id && (!before || id < Number(before.dataset.id))) before = other;
    }
    this.list.insertBefore(li, before);
    this.shown.set(m.id, li);
    while (this.shown.size > MAX_SHOWN) {
      const oldest = Math.min(...this.shown.keys());
      this.remove(oldest);
    }
    if (nearBottom || li.classList.contains("chat-mine")) this.list.scrollTop = this.list.scrollHeight;
  }

  private remove(id: number): void {
    const li = this.shown.get(id);
    if (!li) return;
    li.remove();
    this.shown.delete(id);
  }

  /** Moderators get delete on every message, and time out / ban on others'. */
  private decorate(li: HTMLLIElement): void {
    const own = li.dataset.subject === this.room.you?.subject;
    const want = this.room.moderator ? (own ? "own" : "other") : "";
    let tools = li.querySelector<HTMLElement>(".chat-tools");
    if (tools && tools.dataset.for !== want) {
      tools.remove();
      tools = null;
    }
    if (!want || tools) return;
    tools = el("span", "chat-tools");
    tools.dataset.for = want;
    const who = li.querySelector(".chat-name")?.textContent ?? "";
    const all: [string, string, string][] = [
      ["delete", "Delete", "Delete this message"],
      ["timeout", "Time out", `Pause ${who}'s chat for 5 minutes`],
      ["ban", "Ban", `Remove ${who} from the chat`],
    ];
    for (const [action, label, title] of own ? all.slice(0, 1) : all) {
      const b = el("button", "btn btn-ghost chat-tool", label);
      b.type = "button";
      b.dataset.action = action;
      b.title = title;
      b.setAttribute("aria-label", `${title} (${who})`);
      tools.append(b);
    }
    li.append(tools);
  }

  private async moderate(b: HTMLButtonElement): Promise<void> {
    const li = b.closest<HTMLLIElement>(".chat-msg");
    if (!li) return;
    const id = Number(li.dataset.id);
    const subject = li.dataset.subject ?? "";
    const action = b.dataset.action ?? "";
    const msg: Record<string, unknown> & { type: string } = { type: "moderate", action };
    if (action === "delete") msg.id = id;
    else {
      msg.subject = subject;
      if (action === "timeout") msg.seconds = TIMEOUT_S;
    }
    b.disabled = true;
    try {
      await this.room.request(msg);
      if (action !== "delete") this.showError(action === "ban" ? "Banned from this chat." : "Timed out for 5 minutes.", 4000, true);
    } catch (e) {
      this.showError(e instanceof LiveError ? moderateErrorText(e.code) : String(e));
    } finally {
      b.disabled = false;
    }
  }

  private async saveSettings(): Promise<void> {
    const settings: Settings = { slow_mode_s: Number(this.slow.value), links: this.links.checked, guest_chat: this.guests.checked };
    try {
      await this.room.request({ type: "moderate", action: "settings", settings });
    } catch (e) {
      this.showError(e instanceof LiveError ? moderateErrorText(e.code) : String(e));
      this.render();
    }
  }

  private async sendText(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    if (new TextEncoder().encode(text).length > MAX_BYTES) {
      this.showError(chatErrorText("too_long", this.room.settings));
      return;
    }
    if (this.timedOutUntil > this.room.now()) {
      this.showError(`A moderator paused your chat until ${clock(this.timedOutUntil)}.`);
      return;
    }
    this.input.value = "";
    this.hideError();
    try {
      await this.room.request({ type: "chat", text });
    } catch (e) {
      if (e instanceof LiveError && e.code === "timeout") return; // chat may be answered by its event alone
      const code = e instanceof LiveError ? e.code : "";
      if (code !== "too_long" && !this.input.value) this.input.value = text; // let them fix or retry
      this.showError(chatErrorText(code, this.room.settings, e instanceof Error ? e.message : ""));
    }
  }

  /** Shows a sentence under the messages (errors of the page about the chat, e.g. a refused name). */
  notice(text: string): void {
    this.showError(text);
  }

  private showError(text: string, ms = 6000, info = false): void {
    window.clearTimeout(this.errorTimer);
    this.error.textContent = text;
    this.error.classList.toggle("chat-info", info);
    this.error.hidden = false;
    if (ms) this.errorTimer = window.setTimeout(() => this.hideError(), ms);
  }

  private hideError(): void {
    this.error.hidden = true;
    this.error.textContent = "";
  }
}

function moderateErrorText(code: string): string {
  switch (code) {
    case "unauthorized":
    case "forbidden":
      return "Your sign-in may not moderate this room.";
    case "not_found":
      return "That message is gone already.";
    case "offline":
    case "not_joined":
      return "Not connected to the room right now: try again in a moment.";
    case "timeout":
      return "The server did not answer. Try again.";
    default:
      return `That did not work (${code}).`;
  }
}
