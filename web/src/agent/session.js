// The live view of a screen share session: picture, participants, messages, control.
import { h } from "./dom.js";
import { ChildControl } from "./child.js";
import { CobrowseStage } from "./cobrowse.js";
import { GestureLayer } from "./gestures.js";
import { Connection, sessionUrl } from "../shared/protocol.js";

const KEYSYMS = {
  Enter: "Return", Backspace: "BackSpace", Tab: "Tab", Escape: "Escape", " ": "space",
  ArrowLeft: "Left", ArrowRight: "Right", ArrowUp: "Up", ArrowDown: "Down", Delete: "Delete",
  Home: "Home", End: "End", Shift: "Shift_L", Control: "Control_L", Alt: "Alt_L",
};

export function sessionView(api, key, onLeave) {
  const canvas = h("canvas", { class: "screen", testid: "screen", tabindex: "0",
    width: 1, height: 1 });
  const ctx = canvas.getContext("2d");
  const notice = h("div", { class: "notice", testid: "screen-notice", hidden: true });
  const status = h("p", { class: "status", testid: "session-status", role: "status" },
    `Joining ${key}…`);
  const guests = h("span", { testid: "guest-count" }, "0");
  const people = h("ul", { class: "people", testid: "participants" });
  const rcState = h("span", { testid: "rc-state" }, "off");
  const messageInput = h("input", { testid: "message-text", placeholder: "Message to the app" });
  const state = { display: null, paused: false, pausedBy: "visitor", viewing: false, rc: false,
    ended: false, tiles: 0, callId: 0 };
  let cobrowse = null; // the page view, once the welcome says this is a cobrowse session
  canvas.dataset.tiles = "0";

  function show(text, kind = "") {
    status.textContent = text;
    status.dataset.kind = kind;
  }

  function setNotice() {
    notice.hidden = !state.paused && !state.viewing;
    notice.textContent = !state.paused
      ? (state.viewing ? "The visitor is viewing your screen." : "")
      : state.pausedBy === "agent"
        ? "An agent paused the session. Resume to see the page again."
        : "The visitor paused the session. Only the visitor can resume it.";
  }

  // `by`: who paused, "visitor" (also when unsaid: the SDK's pauses) or "agent".
  function setPaused(paused, by) {
    state.paused = paused;
    state.pausedBy = by === "agent" ? "agent" : "visitor";
    canvas.dataset.paused = String(paused);
    canvas.dataset.pausedBy = state.pausedBy;
    setNotice();
    if (cobrowse) cobrowse.setPaused(paused, state.pausedBy);
  }

  function setViewing(viewing) {
    state.viewing = viewing;
    canvas.dataset.viewing = String(viewing);
    setNotice();
  }

  function setGuests(g) {
    guests.textContent = String(g.count || 0);
    people.replaceChildren(...(g.agents || []).map((a) =>
      h("li", {}, `${a.num}. ${a.name || a.username}${a.title ? ` (${a.title})` : ""}`)));
  }

  function setDisplay(d) {
    if (!d) return;
    if (!state.display || state.display.width !== d.width || state.display.height !== d.height) {
      canvas.width = d.width;
      canvas.height = d.height;
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, d.width, d.height);
    }
    state.display = d;
  }

  async function drawTile(header, payload) {
    if (!state.display || header.e !== state.display.e) return;
    const bitmap = await createImageBitmap(new Blob([payload], { type: "image/jpeg" }));
    ctx.drawImage(bitmap, header.x, header.y);
    bitmap.close();
    state.tiles += 1;
    canvas.dataset.tiles = String(state.tiles);
  }

  const conn = new Connection(sessionUrl(), { t: "join", key, token: api.token }, {
    onWelcome(w) {
      const s = w.state || {};
      const features = s.features || {};
      state.callId = w.call_id;
      video.setAllowed(Boolean(features.agent_video));
      showback.setAllowed(Boolean(features.showback));
      gestures.setAllowed(Boolean(features.gestures));
      if (s.session_type === "cobrowse" && !cobrowse) {
        cobrowse = new CobrowseStage(s.group_id, (m) => conn.send(m));
        stageBox.replaceChildren(cobrowse.frame, notice);
        stageBox.before(cobrowse.tools);
        gestures.toggle.hidden = true;
        section.dataset.kind = "cobrowse";
      }
      if (cobrowse) cobrowse.setRc(Boolean(s.rc_enabled));
      setDisplay(s.display);
      setPaused(Boolean(s.paused), s.paused_by);
      setGuests(s.guests || {});
      state.rc = Boolean(s.rc_enabled);
      rcState.textContent = state.rc ? "on" : "off";
      show(`In session ${w.key} as agent ${w.num}.`, "ok");
      canvas.dataset.session = String(w.key);
    },
    onRefused(r) {
      show(r.message || r.code, "error");
      canvas.dataset.refused = r.code;
    },
    onResumed() {
      show("Reconnected: nothing was lost.", "ok");
      canvas.dataset.resumed = String(Number(canvas.dataset.resumed || 0) + 1);
    },
    onClose(retrying) {
      if (state.ended) return;
      show(retrying ? "The connection dropped; reconnecting…" : "The connection was lost.",
        retrying ? "warning" : "error");
    },
    onMessage(m, payload) {
      switch (m.t) {
        case "tile": drawTile(m, payload); break;
        case "display": setDisplay(m); break;
        case "paused": setPaused(Boolean(m.paused), m.by); break;
        case "pause_refused":
          show(m.message || "Only the visitor can resume a pause the visitor made.", "error");
          break;
        case "dom": if (cobrowse) cobrowse.dom(payload); break;
        case "input_refused": show(`The visitor's page refused: ${m.message || m.action}.`, "error"); break;
        case "guests": setGuests(m); break;
        case "rc":
          state.rc = Boolean(m.enabled);
          rcState.textContent = state.rc ? "on" : "off";
          if (cobrowse) cobrowse.setRc(state.rc);
          show(state.rc ? "The visitor gave you control."
            : m.declined ? "The visitor declined remote control." : "Remote control is off.",
          m.declined ? "error" : "ok");
          break;
        case "rc_refused": show(m.message || "Remote control is not enabled.", "error"); break;
        case "visitor":
          show(m.connected ? "The visitor is back." : "The visitor's connection dropped…",
            m.connected ? "ok" : "warning");
          break;
        case "view": setViewing(Boolean(m.viewing)); break;
        case "child":
          if (m.action === "ended") show(`The ${m.session_type} session ended.`, "ok");
          break;
        case "gesture_refused": show(m.message || "Gestures are off.", "error"); break;
        case "ended":
          state.ended = true;
          video.finish();
          showback.finish();
          canvas.dataset.ended = m.reason;
          show(`The session ended (${m.reason.replace(/^SessionEnd(Reason)?/, "")}).`, "ended");
          conn.close();
          break;
        default: break;
      }
    },
  });
  conn.connect();
  const video = new ChildControl(api, "agentVideo", () => state.callId, show);
  const showback = new ChildControl(api, "showback", () => state.callId, show);
  const gestures = new GestureLayer(canvas, pictureXY, (m) => conn.send(m));

  function pictureXY(event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: Math.round((event.clientX - box.left) * canvas.width / box.width),
      y: Math.round((event.clientY - box.top) * canvas.height / box.height),
    };
  }

  canvas.addEventListener("click", (event) => {
    canvas.focus();
    if (state.rc && !gestures.on) conn.send({ t: "input", action: "click", button: "left", ...pictureXY(event) });
  });
  canvas.addEventListener("keydown", (event) => {
    if (!state.rc) return;
    const keysym = KEYSYMS[event.key] || (event.key.length === 1 ? event.key : null);
    if (keysym) {
      event.preventDefault();
      conn.send({ t: "input", action: "key", keysym });
    }
  });

  const sendMessage = h("button", { type: "button", testid: "message-send", onclick() {
    if (messageInput.value) conn.send({ t: "message", properties: { text: messageInput.value } });
    messageInput.value = "";
  } }, "Send");
  const requestControl = h("button", { type: "button", testid: "rc-request", onclick() {
    conn.send({ t: "rc_request", username: "" });
    show("Asked the visitor for control…");
  } }, "Request control");
  const end = h("button", { type: "button", testid: "session-end", onclick() {
    conn.send({ t: "end" });
  } }, "End session");
  const leave = h("button", { type: "button", testid: "session-leave", onclick() {
    conn.send({ t: "leave" });
    conn.close();
    onLeave();
  } }, "Leave");

  const stageBox = h("div", { class: "stage" }, canvas, gestures.layer, notice);
  const section = h("section", { class: "session", testid: "session" },
    h("div", { class: "toolbar" },
      h("strong", {}, `Session ${key}`),
      h("span", {}, "Agents: ", guests),
      h("span", {}, "Control: ", rcState),
      requestControl, gestures.toggle, video.button, showback.button, end, leave),
    status,
    stageBox,
    h("div", { class: "side" }, h("h3", {}, "Participants"), people,
      h("div", { class: "message" }, messageInput, sendMessage), video.preview,
      showback.preview));
  window.coviewConsoleSession = conn; // for diagnostics (and the tests' simulated drops)
  return {
    section,
    close: () => {
      video.stop();
      showback.stop();
      conn.close();
    },
  };
}
