// Who the viewer is on the live pages: the room token (from the shop's link `?token=` or the
// sign-in return `#token=`, kept per room in localStorage and removed from the address bar), the
// guest's chosen chat name, the guest key the server issued (so a reload is the same guest, and
// a moderator's time-out still holds), and how this server signs people in (GET /auth/config).

const TOKEN_KEY = (room: string) => `relaycast:token:${room}`;
const NAME_KEY = "relaycast:guest-name";
const GUEST_KEY = "relaycast:guest-key";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: the token lives only as long as the page
  }
}

/**
 * The room token: a new one from the URL (`#token=` or `?token=`) is stored for the room and
 * removed from the address bar (history.replaceState); else the stored one; else "".
 */
export function takeRoomToken(room: string): string {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ""));
  const fresh = hash.get("token") || url.searchParams.get("token") || "";
  const store = storage();
  if (fresh) {
    store?.setItem(TOKEN_KEY(room), fresh);
    url.searchParams.delete("token");
    hash.delete("token");
    const rest = hash.toString();
    url.hash = rest ? `#${rest}` : "";
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    return fresh;
  }
  return store?.getItem(TOKEN_KEY(room)) ?? "";
}

/** Forgets the room's token (it was refused, or the viewer signs out). */
export function forgetRoomToken(room: string): void {
  storage()?.removeItem(TOKEN_KEY(room));
}

export function guestName(): string {
  return storage()?.getItem(NAME_KEY) ?? "";
}

export function setGuestName(name: string): void {
  if (name) storage()?.setItem(NAME_KEY, name);
  else storage()?.removeItem(NAME_KEY);
}

/** The guest key of this browser (joined.you.guest_key; "" until the server issued one). */
export function guestKey(): string {
  return storage()?.getItem(GUEST_KEY) ?? "";
}

export function setGuestKey(key: string): void {
  if (key) storage()?.setItem(GUEST_KEY, key);
  else storage()?.removeItem(GUEST_KEY);
}

export interface AuthConfig {
  /** Viewers can sign in with OpenID Connect (GET /auth/config: {"oidc": true, "login_url"}). */
  oidc: boolean;
  loginPath: string;
}

/** GET /auth/config; a server without it (or with sign-in off) has no sign-in. */
export async function authConfig(): Promise<AuthConfig> {
  const off = { oidc: false, loginPath: "/auth/login" };
  try {
    const res = await fetch("/auth/config", { headers: { Accept: "application/json" } });
    if (!res.ok) return off;
    const c = (await res.json()) as { oidc?: unknown; login_url?: unknown };
    const path = typeof c.login_url === "string" && c.login_url.startsWith("/") ? c.login_url : off.loginPath;
    return { oidc: c.oidc === true, loginPath: path };
  } catch {
    return off;
  }
}

/** The sign-in link for a room's viewer: back to its watch page with `#token=` afterwards. */
export function loginURL(room: string, cfg?: AuthConfig): string {
  const q = new URLSearchParams({ room, return: `/watch/${room}` });
  return `${cfg?.loginPath ?? "/auth/login"}?${q.toString()}`;
}
