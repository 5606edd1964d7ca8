// Visitors online and one-click starts (seed 001): search by visitor ID, click Connect, follow
// the terms status live, and the session opens by itself when the visitor accepts.
import { ApiError } from "./api.js";
import { h } from "./dom.js";

const REFRESH_MS = 2000;
const FOLLOW_MS = 400;
const STATUS_TEXT = {
  requested: "Asked the visitor…",
  displayed: "The visitor is reading the terms…",
  accepted: "The visitor accepted; the session is starting…",
  started: "The session started.",
  declined: "The visitor declined.",
  offline: "The visitor went offline.",
  expired: "The visitor did not answer in time.",
};
const FINAL = new Set(["started", "declined", "offline", "expired"]);

export function presenceView(api, openSession) {
  const search = h("input", { type: "search", testid: "presence-search",
    placeholder: "Visitor ID", autocomplete: "off", maxlength: "50" });
  const list = h("ul", { class: "presence-list", testid: "presence-list" });
  const status = h("p", { class: "status", testid: "one-click-status", role: "status" });
  let timer = 0;
  let following = 0;

  function since(seconds) {
    const minutes = Math.max(0, Math.round((Date.now() / 1000 - seconds) / 60));
    return minutes < 1 ? "just now" : `${minutes} min`;
  }

  async function refresh() {
    try {
      const query = encodeURIComponent(search.value.trim());
      const result = await api.call("GET", `/presence?q=${query}&limit=50`);
      list.replaceChildren(...result.visitors.map((v) => {
        const about = Object.entries(v.info || {}).map(([k, value]) => `${k}: ${value}`)
          .join(", ");
        return h("li", { testid: `presence-${v.visitor_id}` },
          h("strong", {}, v.visitor_id), ` online ${since(v.since)}`,
          about ? h("span", { class: "muted" }, ` · ${about}`) : null,
          h("button", { type: "button", testid: `connect-${v.visitor_id}`,
            onclick: () => connect(v.visitor_id) }, "Connect"));
      }));
      if (!result.visitors.length) {
        list.append(h("li", { class: "muted" }, "Nobody online matches."));
      }
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status.textContent = err.message;
    }
  }

  async function connect(visitorId) {
    clearTimeout(following);
    status.dataset.status = "";
    try {
      const request = await api.call("POST", `/presence/${encodeURIComponent(visitorId)}/start`);
      follow(visitorId, request);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status.textContent = err.message;
      status.dataset.status = err.code;
    }
  }

  function follow(visitorId, request) {
    status.textContent = `${visitorId}: ${STATUS_TEXT[request.status] || request.status}`;
    status.dataset.status = request.status;
    status.dataset.history = request.history.join(",");
    if (request.status === "started") {
      openSession(request.session_key);
      return;
    }
    if (FINAL.has(request.status)) return;
    following = setTimeout(async () => {
      try {
        follow(visitorId, await api.call("GET",
          `/presence/${encodeURIComponent(visitorId)}/requests/${request.request_id}`));
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        follow(visitorId, { ...request, status: err.status === 404 ? "offline" : "expired",
          history: [...request.history, "offline"] });
      }
    }, FOLLOW_MS);
  }

  search.addEventListener("input", () => refresh());
  const section = h("section", { class: "presence", testid: "presence" },
    h("h2", {}, "Visitors online"), search, list, status);
  return {
    section,
    start() {
      refresh();
      timer = setInterval(refresh, REFRESH_MS);
    },
    stop() {
      clearInterval(timer);
      clearTimeout(following);
    },
  };
}
