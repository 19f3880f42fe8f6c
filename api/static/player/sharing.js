// Sharing a session (owner): invites with a role, an expiry and a number of uses, the link to
// copy, the open invites to revoke; and the members list, where the owner changes roles,
// removes or blocks.

import { call } from "./api.js";
import { $, closePanels, el, formatTime } from "./dom.js";

export class Sharing {
  constructor(sessionId, { onError, onChanged }) {
    this.sessionId = sessionId;
    this.onError = onError;
    this.onChanged = onChanged;
    this.panel = $("#share-panel");
    this.button = $("#share");
    this.link = $("#invite-link");
    this.status = $("#copy-status");
    this.link.value = "";
    this.status.textContent = "";
    this.listeners = new AbortController();
    const signal = this.listeners.signal;
    this.button.addEventListener("click", () => this.toggle(), { signal });
    $("#invite-form").addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        this.createInvite();
      },
      { signal },
    );
    $("#copy-link").addEventListener("click", () => this.copy(), { signal });
  }

  close() {
    this.listeners.abort();
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  async toggle() {
    const open = this.panel.hidden;
    if (open) closePanels();
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (!open) return;
    if (!this.link.value) await this.createInvite();
    else await this.refreshInvites();
  }

  async createInvite() {
    const uses = $("#invite-uses").value;
    const body = {
      role: $("#invite-role").value,
      expires_in_s: Number($("#invite-expiry").value),
      ...(uses ? { max_uses: Number(uses) } : {}),
    };
    try {
      const invite = await call("POST", `/api/sessions/${this.sessionId}/invites`, { body });
      this.link.value = invite.url;
      this.status.textContent = `A ${invite.role} invite, valid until ${formatTime(invite.expires_at)}.`;
      this.link.focus();
      this.link.select();
      await this.refreshInvites();
    } catch (error) {
      this.onError(error);
    }
  }

  async copy() {
    if (!this.link.value) return;
    try {
      await navigator.clipboard.writeText(this.link.value);
    } catch {
      this.link.select(); // a browser without clipboard access: the link is selected to copy
      document.execCommand("copy");
    }
    this.status.textContent = "Link copied to the clipboard.";
  }

  async refreshInvites() {
    if (this.panel.hidden) return;
    try {
      const { invites } = await call("GET", `/api/sessions/${this.sessionId}/invites`);
      const open = invites.filter((invite) => !invite.revoked);
      $("#invites").replaceChildren(
        ...open.map((invite) => {
          const uses = invite.max_uses ? `${invite.uses} of ${invite.max_uses} uses` : `${invite.uses} uses`;
          const until = invite.expires_at ? `until ${formatTime(invite.expires_at)}` : "no expiry";
          return el(
            "li",
            {},
            el("span", {}, `${invite.role}, ${until}, ${uses}`),
            el(
              "button",
              {
                type: "button",
                class: "quiet",
                "aria-label": `Revoke the ${invite.role} invite ${until}`,
                onclick: () => this.revoke(invite.invite_id),
              },
              "Revoke",
            ),
          );
        }),
      );
      if (open.length === 0) $("#invites").append(el("li", { class: "hint" }, "No open invites."));
    } catch (error) {
      this.onError(error);
    }
  }

  async revoke(inviteId) {
    try {
      await call("DELETE", `/api/sessions/${this.sessionId}/invites/${inviteId}`);
      await this.refreshInvites();
    } catch (error) {
      this.onError(error);
    }
  }
}

// The members list: names and roles for everyone; controls for the owner.
export function renderMembers(session, me, { onError, onChanged }) {
  const owner = session.my_role === "owner";
  const path = (member) =>
    `/api/sessions/${session.session_id}/members/${encodeURIComponent(member.user_id)}`;
  const act = async (work) => {
    try {
      await work();
      onChanged();
    } catch (error) {
      onError(error);
    }
  };
  $("#members").replaceChildren(
    ...session.members.map((member) => {
      const name = member.user_id === me ? `${member.display_name} (you)` : member.display_name;
      const item = el(
        "li",
        { class: "member" },
        el("span", { class: "member-name" }, name),
        " ",
        el("span", { class: "role" }, member.role),
      );
      if (owner && member.role !== "owner") {
        const select = el(
          "select",
          {
            "aria-label": `Role of ${member.display_name}`,
            onchange: (event) =>
              act(() => call("PATCH", path(member), { body: { role: event.target.value } })),
          },
          ...["player", "spectator"].map((role) =>
            el("option", { value: role, selected: role === member.role }, role),
          ),
        );
        item.append(
          el(
            "span",
            { class: "member-tools" },
            select,
            el(
              "button",
              {
                type: "button",
                class: "quiet",
                "aria-label": `Remove ${member.display_name}`,
                onclick: () => act(() => call("DELETE", path(member))),
              },
              "Remove",
            ),
            el(
              "button",
              {
                type: "button",
                class: "quiet danger",
                "aria-label": `Block ${member.display_name}`,
                onclick: () => act(() => call("DELETE", `${path(member)}?block=true`)),
              },
              "Block",
            ),
          ),
        );
      }
      return item;
    }),
  );
}
