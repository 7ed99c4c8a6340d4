// The lot card of the watch page: what is for sale (title, image, price, leader, bid count) with
// a countdown by the server's clock (LiveRoom.remaining), a big one-tap "Bid $X" at the next
// valid amount, a custom bid and a max (proxy) bid, and feedback in words: winning, outbid, too
// low (with the amount that would be valid), lot ended. When a lot ends, the winner banner shows
// on every screen (it comes from the room's `lot` event, the same moment for everyone); someone
// who joins after it ended (joined.last_lot) sees the same banner, shown still (no entrance).

import { type LiveRoom, LiveError } from "./room";
import { type Money } from "./money";
import type { Answer, Bid, Joined, Lot } from "./types";

export interface LotOptions {
  money: Money;
  /** Where the winner banner goes (over the video; the top of the console). */
  bannerMount: HTMLElement;
  /** For someone who may not bid: a sign-in link, or a sentence saying how to get one. */
  signIn?: () => { href: string; text: string } | { note: string };
  /** Bidding controls (the watch page); the studio shows the card without them. */
  bidding?: boolean;
}

type Tone = "win" | "lose" | "info" | "error";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** "0:07", "1:05": time left, rounded up (0:00 only when it is over). */
export function formatCountdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class LotCard {
  readonly root: HTMLElement;
  readonly banner: HTMLElement;
  private readonly img: HTMLImageElement;
  private readonly title: HTMLElement;
  private readonly desc: HTMLElement;
  private readonly price: HTMLElement;
  private readonly leader: HTMLElement;
  private readonly bids: HTMLElement;
  private readonly timer: HTMLElement;
  private readonly extended: HTMLElement;
  private readonly feedback: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly bidButton: HTMLButtonElement;
  private readonly more: HTMLButtonElement;
  private readonly custom: HTMLFormElement;
  private readonly amount: HTMLInputElement;
  private readonly signIn: HTMLElement;
  private shownId = "";
  private shownEndsAt = 0;
  private wasLeading = false;
  private busy = false;
  private extendedTimer = 0;
  private bannerFor = "";

  constructor(
    private readonly room: LiveRoom,
    mount: HTMLElement,
    private readonly opts: LotOptions,
  ) {
    const m = opts.money;
    this.root = el("section", "lot");
    this.root.setAttribute("aria-label", "Lot for sale");
    this.root.hidden = true;
    const main = el("div", "lot-main");
    this.img = el("img", "lot-image");
    this.img.alt = "";
    this.img.hidden = true;
    this.img.addEventListener("error", () => (this.img.hidden = true));
    const info = el("div", "lot-info");
    this.title = el("p", "lot-title");
    this.desc = el("p", "lot-desc small");
    const meta = el("p", "lot-meta small");
    this.price = el("span", "lot-price");
    this.leader = el("span", "lot-leader");
    this.bids = el("span", "lot-bids");
    meta.append(this.price, this.leader, this.bids);
    info.append(this.title, meta, this.desc);
    const clock = el("div", "lot-clock");
    this.timer = el("span", "lot-timer");
    this.timer.setAttribute("role", "timer");
    this.timer.setAttribute("aria-label", "Time left");
    this.extended = el("span", "lot-extended small", "+ time");
    this.extended.hidden = true;
    clock.append(this.timer, this.extended);
    main.append(this.img, info, clock);

    this.feedback = el("p", "lot-feedback small");
    this.feedback.setAttribute("role", "status");
    this.feedback.setAttribute("aria-live", "polite");
    this.feedback.hidden = true;

    this.actions = el("div", "lot-actions");
    this.bidButton = el("button", "btn btn-primary btn-bid");
    this.bidButton.type = "button";
    this.bidButton.id = "bid-button";
    this.bidButton.addEventListener("click", () => {
      const lot = this.room.lot;
      if (lot) void this.bid({ amount: lot.min_amount });
    });
    this.more = el("button", "btn lot-more", "Other amount");
    this.more.type = "button";
    this.more.setAttribute("aria-expanded", "false");
    this.more.addEventListener("click", () => this.toggleCustom());
    this.actions.append(this.bidButton, this.more);

    this.custom = el("form", "lot-custom");
    this.custom.hidden = true;
    this.amount = el("input", "input lot-amount");
    this.amount.inputMode = "decimal";
    this.amount.autocomplete = "off";
    this.amount.setAttribute("aria-label", `Amount in ${m.currency}`);
    const bidThis = el("button", "btn btn-primary lot-bid-custom", "Bid");
    bidThis.type = "submit";
    const maxThis = el("button", "btn lot-bid-max", "Set max bid");
    maxThis.type = "button";
    maxThis.title = "We bid for you, one step over anyone else, up to this amount.";
    const hint = el("p", "hint lot-hint", "A max bid: we bid for you, one step at a time, up to that amount.");
    this.custom.append(this.amount, bidThis, maxThis, hint);
    this.custom.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.customBid(false);
    });
    maxThis.addEventListener("click", () => this.customBid(true));

    this.signIn = el("div", "lot-signin");
    this.signIn.hidden = true;

    this.root.append(main, this.feedback, this.actions, this.custom, this.signIn);
    mount.append(this.root);

    this.banner = el("div", "lot-banner");
    this.banner.setAttribute("role", "status");
    this.banner.hidden = true;
    opts.bannerMount.append(this.banner);

    room.onJoined((j) => this.onJoined(j));
    room.on("lot", (d) => this.onLot(d as Lot));
    room.on("bid", (d) => this.onBid(d as { bid: Bid; lot: Lot }));
    window.setInterval(() => this.tick(), 200);
  }

  /** A join while no lot is open: the last result's banner, as it was shown live, but still. */
  private onJoined(j: Joined): void {
    const l = this.room.lot;
    if (!j.lot && j.last_lot && l && l.id === j.last_lot.id && (l.status === "sold" || l.status === "unsold")) this.showBanner(l, false);
    this.render();
  }

  private onLot(l: Lot): void {
    if (l.status === "open" && this.bannerFor && this.bannerFor !== l.id) this.hideBanner();
    if (l.status === "sold" || l.status === "unsold") this.showBanner(l);
    if (this.room.lot?.id === l.id && l.status === "cancelled") {
      this.say("This lot was cancelled.", "info");
    }
    this.render();
  }

  private onBid(d: { bid: Bid; lot: Lot }): void {
    const me = this.room.you?.subject;
    const lot = d.lot;
    if (!me || !lot) return this.render();
    if (this.wasLeading && lot.leader !== me) {
      this.say(`You were outbid: ${this.opts.money.format(lot.price)} by ${lot.leader_name || "another bidder"}. Bid ${this.opts.money.format(lot.min_amount)}?`, "lose");
    } else if (d.bid?.proxy && d.bid.subject === me) {
      this.say(`Your max bid answered: you lead at ${this.opts.money.format(lot.price)}.`, "win");
    }
    this.render();
  }

  /** The winner banner for an ended lot; animate: its entrance (a lot ending now, not one already shown). */
  private showBanner(l: Lot, animate = true): void {
    const m = this.opts.money;
    const me = this.room.you?.subject;
    let text: string;
    if (l.status === "sold") {
      text = l.winner && l.winner === me ? `You won ${l.title} for ${m.format(l.price)}!` : `Sold to ${l.winner_name || "the winner"} for ${m.format(l.price)}`;
    } else text = `${l.title}: no bids, not sold`;
    if (this.bannerFor === l.id && !this.banner.hidden && this.banner.textContent === text) return; // already up: no second entrance
    this.banner.textContent = text;
    this.banner.dataset.status = l.status;
    this.banner.dataset.lot = l.id;
    this.banner.classList.toggle("lot-banner-mine", l.status === "sold" && !!me && l.winner === me);
    this.banner.style.animation = animate ? "" : "none";
    if (animate) delete this.banner.dataset.late;
    else this.banner.dataset.late = "1"; // shown on joining after the end
    this.banner.hidden = false;
    this.bannerFor = l.id;
  }

  private hideBanner(): void {
    this.banner.hidden = true;
    this.bannerFor = "";
  }

  /** Everything on the card from room.lot. */
  render(): void {
    const lot = this.room.lot;
    const m = this.opts.money;
    this.root.hidden = !lot || lot.status === "queued";
    if (!lot) return;
    if (lot.id !== this.shownId) {
      this.shownId = lot.id;
      this.shownEndsAt = lot.ends_at;
      this.wasLeading = false;
      this.feedback.hidden = true;
      this.custom.hidden = true;
      this.more.setAttribute("aria-expanded", "false");
    } else if (lot.status === "open" && lot.ends_at > this.shownEndsAt + 250 && this.shownEndsAt) {
      this.flashExtended();
    }
    this.shownEndsAt = lot.ends_at;
    this.root.dataset.status = lot.status;
    this.root.dataset.lot = lot.id;
    this.title.textContent = lot.title;
    this.desc.textContent = lot.description ?? "";
    this.desc.hidden = !lot.description;
    if (lot.image_url && /^https?:\/\//i.test(lot.image_url)) {
      if (this.img.getAttribute("src") !== lot.image_url) {
        this.img.hidden = false;
        this.img.src = lot.image_url;
      }
    } else {
      this.img.hidden = true;
      this.img.removeAttribute("src");
    }
    const me = this.room.you?.subject;
    const leading = !!me && lot.leader === me;
    this.price.textContent = m.format(lot.price);
    this.leader.textContent =
      lot.bid_count === 0 ? "no bids yet" : leading ? "you lead" : lot.leader_name ? `${lot.leader_name} leads` : "";
    this.bids.textContent = lot.bid_count ? `${lot.bid_count} ${lot.bid_count === 1 ? "bid" : "bids"}` : "";
    this.root.classList.toggle("lot-winning", leading && lot.status === "open");

    const open = lot.status === "open";
    const bidding = this.opts.bidding !== false;
    const canBid = this.room.canBid;
    this.actions.hidden = !bidding || !open || !canBid;
    if (!open || !canBid) this.custom.hidden = true;
    this.bidButton.disabled = this.busy || leading;
    this.bidButton.textContent = leading ? `Winning at ${m.format(lot.price)}` : `Bid ${m.format(lot.min_amount)}`;
    this.bidButton.dataset.amount = String(lot.min_amount);
    if (!this.amount.value || !this.custom.hidden) this.amount.placeholder = m.plain(lot.min_amount);
    this.renderSignIn(bidding && open && !canBid);

    if (open && leading && !this.wasLeading && this.feedback.dataset.tone !== "win") {
      this.say(`You're the highest bidder at ${m.format(lot.price)}.`, "win");
    }
    this.wasLeading = open && leading;
    if (lot.status === "sold") {
      this.say(lot.winner && lot.winner === me ? `You won at ${m.format(lot.price)}!` : `Bidding ended: sold for ${m.format(lot.price)}.`, lot.winner === me ? "win" : "info");
    } else if (lot.status === "unsold") this.say("Bidding ended without bids.", "info");
    this.tick();
  }

  private renderSignIn(show: boolean): void {
    this.signIn.hidden = !show;
    if (!show) return;
    this.signIn.textContent = "";
    const you = this.room.you;
    if (you && !you.guest) {
      this.signIn.append(el("p", "small", "Your sign-in lets you watch and chat but not bid in this room."));
      return;
    }
    const how = this.opts.signIn?.() ?? { note: "" };
    if ("href" in how) {
      const a = el("a", "btn btn-primary btn-bid lot-signin-link", how.text);
      a.href = how.href;
      this.signIn.append(a);
    } else {
      this.signIn.append(el("p", "small lot-signin-note", how.note || "Bidding needs an account: open this show from the shop's link, which signs you in."));
    }
  }

  private tick(): void {
    const lot = this.room.lot;
    if (!lot || this.root.hidden) return;
    if (lot.status === "open") {
      const left = this.room.remaining(lot);
      this.timer.textContent = formatCountdown(left);
      this.timer.classList.toggle("lot-timer-urgent", left <= 10_000);
      this.timer.dataset.remaining = String(Math.round(left));
    } else {
      this.timer.textContent = lot.status === "sold" ? "Sold" : lot.status === "unsold" ? "Ended" : lot.status === "cancelled" ? "Cancelled" : "Soon";
      this.timer.classList.remove("lot-timer-urgent");
      this.timer.dataset.remaining = "0";
    }
  }

  private flashExtended(): void {
    this.extended.hidden = false;
    window.clearTimeout(this.extendedTimer);
    this.extendedTimer = window.setTimeout(() => (this.extended.hidden = true), 2500);
  }

  private toggleCustom(): void {
    const open = this.custom.hidden;
    this.custom.hidden = !open;
    this.more.setAttribute("aria-expanded", String(open));
    if (open) {
      const lot = this.room.lot;
      if (lot) this.amount.value = this.opts.money.plain(lot.min_amount);
      this.amount.focus();
      this.amount.select();
    }
  }

  private customBid(max: boolean): void {
    const v = this.opts.money.parse(this.amount.value);
    if (v === null || v <= 0) {
      this.say(`Type an amount, such as ${this.opts.money.plain(this.room.lot?.min_amount ?? 100)}.`, "error");
      return;
    }
    void this.bid(max ? { max_amount: v } : { amount: v });
  }

  private async bid(what: { amount?: number; max_amount?: number }): Promise<void> {
    const lot = this.room.lot;
    if (!lot || this.busy) return;
    this.busy = true;
    this.bidButton.disabled = true;
    try {
      const a = (await this.room.request({ type: "bid", lot_id: lot.id, ...what })) as Answer;
      if (a.type === "bid_result") this.onResult(a.accepted, a.code ?? "", a.min_amount, a.lot ?? null, what);
    } catch (e) {
      if (e instanceof LiveError) this.onResult(false, e.code, e.minAmount, null, what);
      else this.say("The bid could not be sent. Try again.", "error");
    } finally {
      this.busy = false;
      this.render();
    }
  }

  private onResult(accepted: boolean, code: string, min: number | undefined, lot: Lot | null, what: { amount?: number; max_amount?: number }): void {
    const m = this.opts.money;
    const me = this.room.you?.subject;
    if (accepted) {
      const l = lot ?? this.room.lot;
      this.custom.hidden = true;
      this.more.setAttribute("aria-expanded", "false");
      if (what.max_amount && l) {
        this.say(
          l.leader === me
            ? `Your max bid of ${m.format(what.max_amount)} is set: you lead at ${m.format(l.price)}.`
            : `Your max bid of ${m.format(what.max_amount)} was outbid: ${m.format(l.price)} now.`,
          l.leader === me ? "win" : "lose",
        );
      } else if (l && l.leader === me) this.say(`You're the highest bidder at ${m.format(l.price)}.`, "win");
      else if (l) this.say(`Your bid was accepted, then outbid: ${m.format(l.price)} now.`, "lose");
      this.wasLeading = !!l && l.leader === me;
      return;
    }
    this.say(bidErrorText(code, m, min ?? this.room.lot?.min_amount), code === "already_leading" ? "info" : "error");
    if (min && this.room.lot && this.room.lot.status === "open" && min > this.room.lot.min_amount) {
      this.room.lot = { ...this.room.lot, min_amount: min };
    }
  }

  private say(text: string, tone: Tone): void {
    this.feedback.textContent = text;
    this.feedback.dataset.tone = tone;
    this.feedback.hidden = !text;
  }
}

/** A refused bid, in words (K5 codes). */
export function bidErrorText(code: string, m: Money, min?: number): string {
  switch (code) {
    case "too_low":
      return min ? `Too low: the next valid bid is ${m.format(min)}.` : "Too low: bid at least the amount on the button.";
    case "lot_closed":
      return "Bidding on this lot has ended.";
    case "not_open":
      return "This lot isn't open for bids yet.";
    case "already_leading":
      return "You're already the highest bidder.";
    case "unauthorized":
    case "forbidden":
      return "Sign in to bid: your link doesn't allow bidding in this room.";
    case "not_found":
      return "This lot is no longer for sale.";
    case "rate_limited":
      return "Too many bids at once: try again in a moment.";
    case "offline":
    case "not_joined":
      return "Not connected right now: your bid was not sent.";
    case "timeout":
      return "The server did not answer in time: check the price before bidding again.";
    case "bad_request":
      return "That amount can't be used.";
    default:
      return "The bid was not accepted.";
  }
}
