// The seller's console (the broadcast page's side panel and the /studio/{room} page): queue lots
// (title, image URL, description, start price, an optional increment table, duration, mode and
// anti-sniping), start the next one with one click, watch its bids arrive live, end it early or
// cancel it before its first bid, and pin a product with a price and stock. Chat moderation is
// the chat panel's (live/chat.ts), mounted beside it.

import { type LiveRoom, LiveError } from "./room";
import { type Money } from "./money";
import { formatCountdown } from "./lot";
import { type ChatPanel } from "./chat";
import type { Answer, Bid, Increment, Lot, LotInput, LotMode, Product } from "./types";

/**
 * The seller's console as the page's test hooks (window.relaycast.live) show it, on the studio
 * and broadcast pages: they only read state.
 */
export function consoleHooks(room: LiveRoom, chat: ChatPanel) {
  return {
    get joined(): boolean {
      return room.joined;
    },
    get you() {
      return room.you;
    },
    get lot() {
      return room.lot;
    },
    get lots() {
      return [...room.lots.values()];
    },
    get messages() {
      return chat.messages;
    },
    remaining: (): number => room.remaining(room.lot),
  };
}

export interface StudioOptions {
  money: Money;
  /** The seller's token, for reading a lot's bid log over the REST API. */
  token: () => string;
  /** Where the winner banner goes. */
  bannerMount?: HTMLElement;
}

const MAX_BIDS_SHOWN = 50;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

function field(label: string, control: HTMLElement, hint = ""): HTMLElement {
  const f = el("div", "field");
  const id = `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const l = el("label", "", label);
  l.htmlFor = id;
  f.append(l, control);
  if (hint) f.append(el("span", "hint", hint));
  return f;
}

function input(name: string, type = "text", value = ""): HTMLInputElement {
  const i = el("input", "input");
  i.name = name;
  i.type = type;
  i.value = value;
  return i;
}

function button(text: string, cls = "btn", action = ""): HTMLButtonElement {
  const b = el("button", cls, text);
  b.type = "button";
  if (action) b.dataset.action = action;
  return b;
}

/** "30: 1" lines (in major units; "*" for the rest) → the increment table, or a sentence. */
export function parseIncrements(text: string, m: Money): Increment[] | string {
  const rows: Increment[] = [];
  const lines = text
    .split(/\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  for (const line of lines) {
    const match = /^([^:=]+)[:=]\s*(.+)$/.exec(line);
    if (!match) return `Write each row as "up to: step", e.g. "30: 1" (not "${line}").`;
    const upText = match[1].trim();
    const step = m.parse(match[2]);
    if (step === null || step <= 0) return `The step in "${line}" is not an amount.`;
    if (upText === "*" || /^(rest|above|else)$/i.test(upText)) {
      rows.push({ up_to: 0, step });
      continue;
    }
    const up = m.parse(upText);
    if (up === null || up <= 0) return `"${upText}" is not an amount.`;
    rows.push({ up_to: up, step });
  }
  if (rows.length && rows[rows.length - 1].up_to !== 0) return 'End the table with a row for the rest, e.g. "*: 10".';
  return rows;
}

export class StudioPanel {
  readonly root: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly current: HTMLElement;
  private readonly curTitle: HTMLElement;
  private readonly curHeading: HTMLElement;
  private readonly curPrice: HTMLElement;
  private readonly curLeader: HTMLElement;
  private readonly curTimer: HTMLElement;
  private readonly curBids: HTMLOListElement;
  private readonly endBtn: HTMLButtonElement;
  private readonly cancelBtn: HTMLButtonElement;
  private readonly startNext: HTMLButtonElement;
  private readonly queue: HTMLOListElement;
  private readonly done: HTMLOListElement;
  private readonly message: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly product: HTMLElement;
  private readonly productForm: HTMLFormElement;
  private readonly unpin: HTMLButtonElement;
  private bidsFor = "";
  private readonly bidNs = new Set<number>();
  private messageTimer = 0;

  constructor(
    private readonly room: LiveRoom,
    mount: HTMLElement,
    private readonly opts: StudioOptions,
  ) {
    const m = opts.money;
    this.root = el("section", "studio-panel");
    this.root.setAttribute("aria-label", "Lots and product");
    this.banner = el("div", "lot-banner");
    this.banner.setAttribute("role", "status");
    this.banner.hidden = true;
    (opts.bannerMount ?? this.root).append(this.banner);

    this.message = el("p", "studio-message small");
    this.message.setAttribute("role", "alert");
    this.message.hidden = true;

    // The lot on sale now.
    this.current = el("div", "card studio-current");
    const head = el("div", "card-header");
    this.curHeading = el("h2", "", "On sale now");
    head.append(this.curHeading);
    this.curTimer = el("span", "lot-timer");
    this.curTimer.setAttribute("role", "timer");
    head.append(this.curTimer);
    this.curTitle = el("p", "lot-title");
    const meta = el("p", "lot-meta small");
    this.curPrice = el("span", "lot-price");
    this.curLeader = el("span", "lot-leader");
    meta.append(this.curPrice, this.curLeader);
    this.curBids = el("ol", "studio-bids");
    this.curBids.setAttribute("aria-label", "Bids, newest first");
    this.curBids.setAttribute("aria-live", "polite");
    const row = el("div", "btn-row");
    this.endBtn = button("End now", "btn", "end");
    this.cancelBtn = button("Cancel lot", "btn btn-ghost", "cancel");
    this.cancelBtn.title = "Only before the first bid";
    row.append(this.endBtn, this.cancelBtn);
    this.current.append(head, this.curTitle, meta, row, this.curBids);
    this.endBtn.addEventListener("click", () => void this.lotAction("lot_end", this.room.lot?.id ?? ""));
    this.cancelBtn.addEventListener("click", () => void this.lotAction("lot_cancel", this.room.lot?.id ?? ""));

    // The queue.
    const queueCard = el("div", "card studio-queue");
    const qh = el("div", "card-header");
    qh.append(el("h2", "", "Lots"));
    this.startNext = button("Start next lot", "btn btn-primary btn-block studio-start-next", "start-next");
    this.startNext.addEventListener("click", () => {
      const next = this.queued()[0];
      if (next) void this.lotAction("lot_start", next.id);
    });
    this.queue = el("ol", "studio-lots");
    this.queue.setAttribute("aria-label", "Queued lots");
    this.done = el("ol", "studio-lots studio-done");
    this.done.setAttribute("aria-label", "Finished lots");
    this.queue.addEventListener("click", (ev) => {
      const b = (ev.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
      const id = b?.closest<HTMLElement>("[data-lot]")?.dataset.lot;
      if (b && id) void this.lotAction(b.dataset.action === "start" ? "lot_start" : "lot_cancel", id);
    });
    queueCard.append(qh, this.startNext, this.queue, this.done);

    // Add a lot.
    this.form = el("form", "card studio-form");
    const details = el("details", "studio-advanced");
    details.append(el("summary", "", "Increments and anti-sniping"));
    const mode = el("select", "select");
    mode.name = "mode";
    mode.append(new Option("Standard (bids near the end add time)", "standard"), new Option("Sudden death (no extra time)", "sudden_death"));
    const incr = el("textarea", "input");
    incr.name = "increments";
    incr.rows = 4;
    incr.placeholder = "30: 1\n50: 2\n100: 5\n*: 10";
    details.append(
      field("Increment table", incr, `One row per line: "up to: step" in ${m.currency}; "*" for the rest. Empty: the server's default table.`),
      field("Extend when a bid comes in the last (s)", input("extend_window_s", "number", "10")),
      field("… back to (s)", input("extend_to_s", "number", "10")),
      field("At most this many extensions (0: no limit)", input("max_extensions", "number", "0")),
    );
    const title = input("title");
    title.required = true;
    title.maxLength = 200;
    const price = input("start_price", "text", m.plain(m.scale));
    price.inputMode = "decimal";
    const duration = input("duration_s", "number", "30");
    duration.min = "5";
    duration.max = "3600";
    const formRow = el("div", "studio-row");
    formRow.append(field(`Start price (${m.currency})`, price), field("Duration (s)", duration));
    const add = el("button", "btn btn-primary", "Add to queue");
    add.type = "submit";
    const formHead = el("div", "card-header");
    formHead.append(el("h2", "", "Add a lot"));
    this.form.append(
      formHead,
      field("Title", title),
      field("Image URL", input("image_url", "url"), "https://… (optional)"),
      field("Description", Object.assign(el("textarea", "input"), { name: "description", rows: 2 })),
      formRow,
      field("Mode", mode),
      details,
      add,
    );
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.create();
    });

    // Pinned product.
    const prodCard = el("div", "card studio-product");
    const ph = el("div", "card-header");
    ph.append(el("h2", "", "Pinned product"));
    this.product = el("p", "small studio-pinned", "Nothing pinned.");
    this.productForm = el("form", "studio-product-form");
    const pprice = input("price", "text");
    pprice.inputMode = "decimal";
    const prow = el("div", "studio-row");
    prow.append(field(`Price (${m.currency})`, pprice), field("Stock", input("stock", "number", "1")));
    const pin = el("button", "btn", "Pin product");
    pin.type = "submit";
    this.unpin = button("Unpin", "btn btn-ghost", "unpin");
    const pbtns = el("div", "btn-row");
    pbtns.append(pin, this.unpin);
    this.productForm.append(
      field("Title", Object.assign(input("title"), { required: true })),
      field("Image URL", input("image_url", "url")),
      prow,
      field("Buy link", input("url", "url"), "Where a viewer buys it (optional)"),
      pbtns,
    );
    this.productForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.pin();
    });
    this.unpin.addEventListener("click", () => void this.moderate({ action: "unpin" }, "Unpinned."));
    prodCard.append(ph, this.product, this.productForm);

    this.root.append(this.message, this.current, queueCard, this.form, prodCard);
    mount.append(this.root);

    room.onJoined(() => this.render());
    room.on("lot", (d) => {
      const l = d as Lot;
      if (l.status === "sold" || l.status === "unsold") this.showBanner(l);
      if (l.status === "open") this.banner.hidden = true;
      this.render();
    });
    room.on("bid", (d) => {
      const b = (d as { bid: Bid }).bid;
      if (b) this.addBid(b, true);
      this.render();
    });
    room.on("product", () => this.renderProduct());
    window.setInterval(() => this.tick(), 200);
  }

  private queued(): Lot[] {
    return [...this.room.lots.values()].filter((l) => l.status === "queued").sort((a, b) => (a.created_at ?? 0) - (b.created_at ?? 0));
  }

  private render(): void {
    const m = this.opts.money;
    const lot = this.room.lot;
    const open = lot?.status === "open";
    this.current.hidden = !lot;
    if (lot) {
      this.current.dataset.status = lot.status;
      this.current.dataset.lot = lot.id;
      this.curTitle.textContent = lot.title;
      this.curHeading.textContent = open ? "On sale now" : "Last lot";
      this.curPrice.textContent = m.format(lot.price);
      const bids = `${lot.bid_count} ${lot.bid_count === 1 ? "bid" : "bids"}`;
      this.curLeader.textContent = lot.bid_count === 0 ? "no bids yet" : `${bids} · ${lot.leader_name || lot.leader || ""} leads`;
      if (lot.status === "sold") this.curLeader.textContent = `sold to ${lot.winner_name || lot.winner} · ${bids}`;
      else if (lot.status === "unsold") this.curLeader.textContent = "ended without bids";
      else if (lot.status === "cancelled") this.curLeader.textContent = "cancelled";
      this.endBtn.hidden = !open;
      this.cancelBtn.hidden = !open || lot.bid_count > 0;
      if (this.bidsFor !== lot.id) {
        this.bidsFor = lot.id;
        this.bidNs.clear();
        this.curBids.textContent = "";
        if (lot.bid_count > 0) void this.loadBids(lot);
      }
    }
    const queued = this.queued();
    this.startNext.disabled = open || queued.length === 0;
    this.startNext.textContent = queued.length ? `Start next lot: ${queued[0].title}` : "Queue a lot to start it";
    this.queue.textContent = "";
    for (const l of queued) {
      const li = el("li", "studio-lot");
      li.dataset.lot = l.id;
      li.append(el("span", "studio-lot-title", l.title), el("span", "small muted", `${m.format(l.start_price)} · ${l.duration_s} s${l.mode === "sudden_death" ? " · sudden death" : ""}`));
      const start = button("Start", "btn btn-sm", "start");
      start.disabled = open;
      li.append(start, button("Remove", "btn btn-sm btn-ghost", "cancel"));
      this.queue.append(li);
    }
    this.done.textContent = "";
    const finished = [...this.room.lots.values()]
      .filter((l) => l.status === "sold" || l.status === "unsold" || l.status === "cancelled")
      .sort((a, b) => (b.ended_at ?? 0) - (a.ended_at ?? 0));
    for (const l of finished.slice(0, 20)) {
      const li = el("li", "studio-lot");
      li.dataset.lot = l.id;
      const result = l.status === "sold" ? `sold to ${l.winner_name || l.winner} for ${m.format(l.price)}` : l.status;
      li.append(el("span", "studio-lot-title", l.title), el("span", "small muted", result));
      this.done.append(li);
    }
    this.renderProduct();
    this.tick();
  }

  private tick(): void {
    const lot = this.room.lot;
    if (!lot || lot.status !== "open") {
      this.curTimer.textContent = lot ? (lot.status === "sold" ? "Sold" : lot.status === "unsold" ? "Ended" : lot.status === "cancelled" ? "Cancelled" : "") : "";
      this.curTimer.classList.remove("lot-timer-urgent");
      return;
    }
    const left = this.room.remaining(lot);
    this.curTimer.textContent = formatCountdown(left);
    this.curTimer.dataset.remaining = String(Math.round(left));
    this.curTimer.classList.toggle("lot-timer-urgent", left <= 10_000);
  }

  private addBid(b: Bid, live: boolean): void {
    if (b.lot_id !== this.bidsFor || this.bidNs.has(b.n)) return;
    this.bidNs.add(b.n);
    const m = this.opts.money;
    const li = el("li", `studio-bid${b.proxy ? " studio-bid-proxy" : ""}`);
    li.dataset.n = String(b.n);
    li.append(el("span", "studio-bid-name", b.name || b.subject), el("span", "studio-bid-amount", m.format(b.amount)));
    if (b.proxy) li.append(el("span", "small muted", "max bid"));
    // Newest first: insert before the first row with a smaller n.
    const after = [...this.curBids.children].find((c) => Number((c as HTMLElement).dataset.n) < b.n) ?? null;
    this.curBids.insertBefore(li, after);
    if (live) li.classList.add("studio-bid-new");
    while (this.curBids.childElementCount > MAX_BIDS_SHOWN) this.curBids.lastElementChild?.remove();
  }

  /** The bid log of a lot that had bids before this page saw it (REST, the seller's token). */
  private async loadBids(lot: Lot): Promise<void> {
    const token = this.opts.token();
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(this.room.room)}/lots/${encodeURIComponent(lot.id)}/bids`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
      if (!res.ok) return;
      const body = (await res.json()) as Bid[] | { bids?: Bid[] };
      const bids = Array.isArray(body) ? body : (body.bids ?? []);
      for (const b of bids) if (b.accepted) this.addBid(b, false);
    } catch {
      /* the live events still come */
    }
  }

  private showBanner(l: Lot): void {
    const m = this.opts.money;
    this.banner.textContent = l.status === "sold" ? `Sold to ${l.winner_name || l.winner || "the winner"} for ${m.format(l.price)}` : `${l.title}: no bids, not sold`;
    this.banner.dataset.status = l.status;
    this.banner.dataset.lot = l.id;
    this.banner.hidden = false;
  }

  private renderProduct(): void {
    const p = this.room.product;
    const m = this.opts.money;
    this.product.textContent = p ? `${p.title} · ${m.format(p.price)} · ${p.stock} in stock` : "Nothing pinned.";
    this.unpin.hidden = !p;
  }

  private async create(): Promise<void> {
    const m = this.opts.money;
    const f = new FormData(this.form);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    const n = (k: string) => Number(s(k) || "0");
    const start = m.parse(s("start_price"));
    if (start === null || start <= 0) return this.say(`The start price must be an amount, such as ${m.plain(m.scale * 10)}.`);
    if (!Number.isInteger(n("duration_s")) || n("duration_s") < 5 || n("duration_s") > 3600) return this.say("The duration is a whole number of seconds, from 5 to 3600.");
    const lot: LotInput = {
      title: s("title"),
      description: s("description"),
      image_url: s("image_url"),
      start_price: start,
      duration_s: n("duration_s"),
      mode: (s("mode") || "standard") as LotMode,
      extend_window_s: n("extend_window_s"),
      extend_to_s: n("extend_to_s"),
      max_extensions: n("max_extensions"),
    };
    const incr = parseIncrements(s("increments"), m);
    if (typeof incr === "string") return this.say(incr);
    if (incr.length) lot.increments = incr;
    if (!lot.title) return this.say("Give the lot a title.");
    try {
      const a = (await this.room.request({ type: "lot_create", lot })) as Answer;
      if (a.type === "lot_result") this.room.lots.set(a.lot.id, a.lot);
      this.resetForm();
      this.say(`Queued “${lot.title}”.`, true);
      this.render();
    } catch (e) {
      this.say(lotErrorText(e));
    }
  }

  /** Clears the lot's own fields (title, image, description) and keeps the seller's settings. */
  private resetForm(): void {
    const keep = ["start_price", "duration_s", "mode", "increments", "extend_window_s", "extend_to_s", "max_extensions"];
    const els = this.form.elements;
    const saved = keep.map((k) => [k, (els.namedItem(k) as HTMLInputElement | null)?.value ?? ""] as const);
    this.form.reset(); // also forgets that the person touched "title" (no :user-invalid)
    for (const [k, v] of saved) {
      const e = els.namedItem(k) as HTMLInputElement | null;
      if (e) e.value = v;
    }
  }

  private async lotAction(type: "lot_start" | "lot_end" | "lot_cancel", id: string): Promise<void> {
    if (!id) return;
    try {
      await this.room.request({ type, lot_id: id });
      this.render();
    } catch (e) {
      this.say(lotErrorText(e));
    }
  }

  private async pin(): Promise<void> {
    const m = this.opts.money;
    const f = new FormData(this.productForm);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    const price = m.parse(s("price"));
    if (price === null) return this.say("The product's price must be an amount.");
    const stock = Number(s("stock") || "0");
    if (!Number.isInteger(stock) || stock < 0) return this.say("The stock is a whole number.");
    const product: Product = { id: `p${Date.now().toString(36)}`, title: s("title"), image_url: s("image_url"), price, stock, url: s("url") };
    await this.moderate({ action: "pin", product }, `Pinned “${product.title}”.`);
  }

  private async moderate(msg: Record<string, unknown>, done: string): Promise<void> {
    try {
      await this.room.request({ type: "moderate", ...msg });
      this.say(done, true);
    } catch (e) {
      this.say(lotErrorText(e));
    }
  }

  private say(text: string, ok = false): void {
    window.clearTimeout(this.messageTimer);
    this.message.textContent = text;
    this.message.classList.toggle("studio-ok", ok);
    this.message.hidden = !text;
    this.messageTimer = window.setTimeout(() => (this.message.hidden = true), ok ? 3000 : 8000);
  }
}

function lotErrorText(e: unknown): string {
  if (!(e instanceof LiveError)) return "That did not work. Try again.";
  switch (e.code) {
    case "conflict":
      return e.message && e.message !== e.code ? `Not now: ${e.message}.` : "Not now: another lot is open, or this one has bids already.";
    case "bad_request":
      // "auction: invalid: duration_s: must be 5..3600" → "duration_s: must be 5..3600"
      return e.message && e.message !== e.code ? `Check the lot: ${e.message.replace(/^.*invalid: /, "").replace(/\.$/, "")}.` : "Check the lot's fields.";
    case "unauthorized":
    case "forbidden":
      return "This link may not run lots in this room: it needs a publish token.";
    case "not_found":
      return "That lot does not exist any more.";
    case "offline":
    case "not_joined":
      return "Not connected to the room right now: try again in a moment.";
    case "timeout":
      return "The server did not answer. Check the lot list before trying again.";
    default:
      return e.message || `That did not work (${e.code}).`;
  }
}
