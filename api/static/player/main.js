// The player page: sign in, my sessions, and the session being played. Routes: `/`, `/s/<id>`
// (one session; also kept in localStorage, so a reload or a new tab resumes it) and
// `/join/<token>` (an invite link: sign in if needed, accept, land in the session).

import { ApiError, auth, call, claims, describe, retrying } from "./api.js";
import { $, ago, el } from "./dom.js";
import { LiveStream } from "./live.js";
import { renderMembers, Sharing } from "./sharing.js";
import { Story } from "./story.js";
import { Timeline } from "./timeline.js";

const SESSION_KEY = "gaia.session";
const AUTH_MODE = document.querySelector('meta[name="gaia-auth-mode"]')?.content || "local";
const MEDIA_RENEW_SHARE = 0.8; // renew a media ticket when this share of its life has passed

let current = null; // the open session: {id, info, story, live, sharing, timeline, timers}

// -- notices ----------------------------------------------------------------------------------

// `passing`: the notice is about a wait (the service is unavailable, retrying) that ends by
// itself, so the live stream's return clears it.
function notify(text, passing = false) {
  const notice = $("#notice");
  notice.textContent = text;
  notice.hidden = !text;
  if (passing) notice.dataset.passing = "true";
  else delete notice.dataset.passing;
}

function waiting(error) {
  notify(describe(error), true);
}

function showError(error) {
  if (error instanceof ApiError && error.code === "unauthorized") {
    signOut(describe(error));
    return;
  }
  notify(describe(error));
}

// -- routes -----------------------------------------------------------------------------------

function route() {
  const [, first, second] = location.pathname.split("/");
  if (first === "join" && second) return { kind: "join", token: decodeURIComponent(second) };
  if (first === "s" && second) return { kind: "session", id: decodeURIComponent(second) };
  return { kind: "home" };
}

function go(path, replace = false) {
  if (location.pathname === path) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
}

// An identity provider (or a deployment's login page) may hand the token over in the fragment,
// `#access_token=...`, as the OAuth 2 implicit flow does; it is kept and removed from the URL.
function tokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("access_token") || params.get("id_token");
  if (!token) return false;
  auth.token = token;
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

// -- signing in -------------------------------------------------------------------------------

function showSignIn(where) {
  closeSession();
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#sign-out").hidden = true;
  $("#to-sessions").hidden = true;
  $("#whoami").textContent = "";
  if (where.kind === "join") {
    $("#signin-why").textContent = "You are invited to a campaign. Sign in to join it.";
  }
  const oidc = AUTH_MODE === "oidc";
  $("#guest-form").hidden = oidc;
  $("#token-form").hidden = !oidc;
  (oidc ? $("#token-input") : $("#guest-name")).focus();
}

function signOut(why = "") {
  auth.token = null;
  localStorage.removeItem(SESSION_KEY);
  go("/", true);
  showSignIn({ kind: "home" });
  notify(why);
}

async function playAsGuest(event) {
  event.preventDefault();
  const name = $("#guest-name").value.trim();
  if (!name) return;
  try {
    const answer = await retrying(() => call("POST", "/api/auth/guest", { body: { display_name: name } }), { onWait: waiting });
    auth.token = answer.access_token;
    notify("");
    await enter(route());
  } catch (error) {
    notify(describe(error));
  }
}

async function signInWithToken(event) {
  event.preventDefault();
  auth.token = $("#token-input").value.trim();
  notify("");
  await enter(route());
}

// -- the signed-in page -----------------------------------------------------------------------

function me() {
  return claims(auth.token).sub || "";
}

async function enter(where) {
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#sign-out").hidden = false;
  $("#to-sessions").hidden = false;
  const who = claims(auth.token);
  $("#whoami").textContent = who.name || who.email || "";
  if (where.kind === "join") {
    await join(where.token);
  } else if (where.kind === "session") {
    await openSession(where.id, { replace: true });
  } else {
    const saved = localStorage.getItem(SESSION_KEY);
    if (saved) await openSession(saved, { replace: true });
    else showWelcome();
  }
  await loadSessions();
}

async function join(token) {
  try {
    const joined = await retrying(() => call("POST", "/api/invites/accept", { body: { token } }), { onWait: waiting });
    notify("");
    await openSession(joined.session_id, { replace: true });
  } catch (error) {
    go("/", true);
    showWelcome();
    showError(error);
  }
}

function showWelcome() {
  closeSession();
  $("#session").hidden = true;
  $("#welcome").hidden = false;
}

async function loadSessions() {
  try {
    const { sessions } = await retrying(() => call("GET", "/api/sessions"), { onWait: waiting });
    sessions.sort((a, b) => (b.last_activity_at || "").localeCompare(a.last_activity_at || ""));
    $("#session-list").replaceChildren(
      ...sessions.map((session) => {
        const link = el(
          "a",
          {
            href: `/s/${session.session_id}`,
            "aria-current": current?.id === session.session_id ? "page" : null,
            onclick: (event) => {
              event.preventDefault();
              openSession(session.session_id);
            },
          },
          session.title || "Untitled campaign",
        );
        const details = [session.role];
        if (session.last_activity_at) details.push(ago(session.last_activity_at));
        return el("li", {}, link, el("span", { class: "hint" }, details.join(" · ")));
      }),
    );
    $("#no-sessions").hidden = sessions.length > 0;
  } catch (error) {
    showError(error);
  }
}

async function createCampaign(event) {
  event.preventDefault();
  const title = $("#new-title").value.trim();
  try {
    const made = await call("POST", "/api/campaigns/new", { body: title ? { title } : {} });
    $("#new-title").value = "";
    $("#new-form").hidden = true;
    $("#new-campaign").setAttribute("aria-expanded", "false");
    await openSession(made.session_id);
    await loadSessions();
    $("#turn-text").focus();
  } catch (error) {
    showError(error);
  }
}

// -- one session ------------------------------------------------------------------------------

function closeSession() {
  if (!current) return;
  current.live?.stop();
  current.sharing?.close();
  current.timeline?.close();
  for (const timer of current.timers) clearTimeout(timer);
  current = null;
}

async function openSession(id, { replace = false } = {}) {
  closeSession();
  const session = { id, timers: [], info: null };
  current = session;
  go(`/s/${id}`, replace);
  $("#welcome").hidden = true;
  $("#session").hidden = false;
  $("#session-title").textContent = "…";
  $("#messages").replaceChildren();
  for (const link of document.querySelectorAll("#session-list a")) {
    if (link.getAttribute("href") === `/s/${id}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    await refreshSession(session);
  } catch (error) {
    if (current !== session) return;
    localStorage.removeItem(SESSION_KEY);
    go("/", true);
    showWelcome();
    showError(error);
    return;
  }
  if (current !== session) return;
  localStorage.setItem(SESSION_KEY, id);
  const canPlay = () => session.info && session.info.my_role !== "spectator";
  session.story = new Story(id, {
    log: $("#story"),
    list: $("#messages"),
    earlier: $("#load-earlier"),
    options: $("#options"),
    canPlay,
    onAct: (text) => sendTurn(session, text, "action"),
    onRetry: (turnId) => retryTurn(session, turnId),
    onError: showError,
  });
  session.sharing = new Sharing(id, { onError: showError });
  session.timeline = new Timeline(session.info, {
    onError: showError,
    onFork: async (forkId) => {
      await openSession(forkId);
      await loadSessions();
    },
    onRewound: () => session.story.reread(null),
  });
  let version;
  try {
    version = await retrying(() => session.story.open(), { onWait: waiting });
    notify("");
  } catch (error) {
    showError(error);
    return;
  }
  if (current !== session) return;
  renewMediaTicket(session);
  session.live = new LiveStream(id, version, {
    onEvent: (record) => onEvent(session, record),
    onDelta: (delta) => session.story.preview(delta),
    onOpen: () => {
      $("#live-status").textContent = "Live";
      $("#live-status").dataset.state = "live";
      if ($("#notice").dataset.passing) notify("");
    },
    onTrouble: (error) => {
      $("#live-status").textContent = error ? describe(error) : "Reconnecting…";
      $("#live-status").dataset.state = "trouble";
    },
    onGone: (error) => {
      if (current !== session) return;
      closeSession();
      localStorage.removeItem(SESSION_KEY);
      go("/", true);
      showWelcome();
      showError(error);
      loadSessions();
    },
  });
  session.live.start();
}

async function refreshSession(session) {
  const info = await retrying(() => call("GET", `/api/sessions/${session.id}`), {
    onWait: waiting,
  });
  if (current !== session) return;
  session.info = info;
  $("#session-title").textContent = info.title || "Untitled campaign";
  document.title = `${info.title || "Untitled campaign"} · Gaia`;
  const count = info.members.length;
  $("#session-role").textContent = `You are ${info.my_role === "owner" ? "the owner" : `a ${info.my_role}`} · ${count} ${count === 1 ? "member" : "members"}`;
  const owner = info.my_role === "owner";
  $("#share").hidden = !owner;
  if (!owner) $("#share-panel").hidden = true;
  const spectator = info.my_role === "spectator";
  $("#turn-form").hidden = spectator;
  $("#upload-form").hidden = spectator;
  $("#spectating").hidden = !spectator;
  $("#rewind").hidden = !owner;
  renderMembers(info, me(), {
    onError: showError,
    onChanged: () => refreshSession(session).catch(showError),
  });
}

const SESSION_EVENTS = new Set([
  "SessionRenamed",
  "MemberJoined",
  "MemberRemoved",
  "MemberRoleChanged",
]);

function onEvent(session, record) {
  if (current !== session) return;
  session.story.changed(record);
  if (SESSION_EVENTS.has(record.type)) {
    refreshSession(session).catch(showError);
    if (record.type === "SessionRenamed" || record.type === "MemberJoined") loadSessions();
  }
  if (record.type === "InviteIssued" || record.type === "InviteRevoked" || record.type === "MemberJoined") {
    session.sharing.refreshInvites();
  }
  session.timeline.changed();
}

async function renewMediaTicket(session) {
  if (current !== session) return;
  try {
    const { ticket, expires_in: life } = await call("POST", `/api/sessions/${session.id}/media-ticket`);
    session.story.useMediaTicket(ticket);
    session.timers.push(setTimeout(() => renewMediaTicket(session), life * MEDIA_RENEW_SHARE * 1000));
  } catch (error) {
    if (error instanceof ApiError && (error.transient || error.code === "rate_limited")) {
      session.timers.push(setTimeout(() => renewMediaTicket(session), (error.retryAfter ?? 5) * 1000));
    }
    // Otherwise the story stays readable; pictures wait for the next ticket.
  }
}

async function sendTurn(session, text, kind) {
  if (!text.trim()) return;
  const form = $("#turn-form");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  // One key per action: resending after a network failure cannot play it twice.
  const key = crypto.randomUUID();
  try {
    await retrying(
      () =>
        call("POST", `/api/sessions/${session.id}/turns`, {
          body: { text, kind },
          headers: { "Idempotency-Key": key },
        }),
      { onWait: waiting },
    );
    notify("");
    if ($("#turn-text").value === text) $("#turn-text").value = "";
    session.story.reread(session.story.newestVersion());
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function retryTurn(session, turnId) {
  try {
    await call("POST", `/api/sessions/${session.id}/turns/${turnId}/retry`);
    session.story.changed({ type: "NarrationRequested", data: { turn_id: turnId } });
  } catch (error) {
    showError(error);
  }
}

// Choosing a file uploads it: one step, the story shows it to everyone.
async function upload() {
  const session = current;
  const file = $("#upload-file").files[0];
  if (!session || !file) return;
  const body = new FormData();
  body.append("file", file);
  body.append("kind", "image");
  $("#upload-status").textContent = "Uploading…";
  try {
    await call("POST", `/api/sessions/${session.id}/media`, { body });
    $("#upload-file").value = "";
    $("#upload-status").textContent = "";
    notify("");
    session.story.reread(session.story.newestVersion());
  } catch (error) {
    $("#upload-status").textContent = "";
    showError(error);
  }
}

// -- wiring -----------------------------------------------------------------------------------

function wire() {
  $("#guest-form").addEventListener("submit", playAsGuest);
  $("#token-form").addEventListener("submit", signInWithToken);
  $("#sign-out").addEventListener("click", () => signOut());
  // On a phone the sessions come below the story: one tap brings them up.
  $("#to-sessions").addEventListener("click", () => {
    $("#sessions").scrollIntoView({ behavior: "smooth" });
    $("#new-campaign").focus({ preventScroll: true });
  });
  $("#new-campaign").addEventListener("click", () => {
    const form = $("#new-form");
    form.hidden = !form.hidden;
    $("#new-campaign").setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) $("#new-title").focus();
  });
  $("#new-form").addEventListener("submit", createCampaign);
  $("#turn-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (current) sendTurn(current, $("#turn-text").value, $("#turn-kind").value);
  });
  $("#turn-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("#turn-form").requestSubmit();
    }
  });
  $("#upload-file").addEventListener("change", upload);
  $("#upload-form").addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("hashchange", () => {
    if (tokenFromFragment()) {
      notify("");
      enter(route());
    }
  });
  window.addEventListener("popstate", () => {
    const where = route();
    if (!auth.token) return;
    if (where.kind === "session") openSession(where.id, { replace: true });
    else showWelcome();
  });
}

wire();
tokenFromFragment();
if (auth.token) enter(route());
else showSignIn(route());
