// The agent's video or screen (a child session) inside the visitor's page: the page at
// /viewer/child?group_id=N, framed by visitor.js in the page's coview_agentvideo or
// coview_screenshare iframe (or its default floating one). The invitation comes in the URL's
// fragment (#key=&token=&type=), which never reaches a server; the page drops it at once.
import { Connection, sessionUrl } from "../shared/protocol.js";
import { VERSION } from "../shared/rules.js";
import "./childview.css";

const canvas = document.getElementById("picture");
const status = document.getElementById("status");
const ctx = canvas.getContext("2d");
const invitation = new URLSearchParams(location.hash.slice(1));
history.replaceState(null, "", location.pathname + location.search);
const groupId = Number(new URLSearchParams(location.search).get("group_id"));
let display = null;
let frames = 0;

function say(state, text) {
  document.body.dataset.state = state;
  status.textContent = text;
  status.hidden = state === "live";
}

function setDisplay(d) {
  if (!d || !Number.isInteger(d.width) || !Number.isInteger(d.height)) return;
  if (!display || display.width !== d.width || display.height !== d.height) {
    canvas.width = Math.max(1, Math.min(d.width, 8192));
    canvas.height = Math.max(1, Math.min(d.height, 8192));
  }
  display = d;
}

async function drawTile(header, payload) {
  if (!display || header.e !== display.e || !payload.length) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([payload], { type: "image/jpeg" }));
  } catch (err) {
    return; // not a picture: skipped
  }
  ctx.drawImage(bitmap, Number(header.x) || 0, Number(header.y) || 0);
  bitmap.close();
  frames += 1;
  canvas.dataset.frames = String(frames);
  if (frames === 1) say("live", "");
}

const key = invitation.get("key") || "";
const token = invitation.get("token") || "";
const label = invitation.get("type") === "showback" ? "the agent's screen" : "the agent's video";
if (!key || !token || !groupId) {
  say("refused", "Nothing to show: this page opens from a support session.");
} else {
  say("connecting", `Connecting to ${label}…`);
  const conn = new Connection(sessionUrl(), { t: "join", role: "viewer", key, token,
    group_id: groupId }, {
    onWelcome: (w) => {
      setDisplay(w.state && w.state.display);
      if (!frames) say("waiting", `Waiting for ${label}…`);
    },
    onResumed: () => {},
    onRefused: (r) => say("refused", `${label} cannot be shown: ${r.message || r.code}`),
    onReplaced: () => say("ended", `${label} moved to another page`),
    onClose: (retrying) => {
      if (!retrying && document.body.dataset.state !== "ended") {
        say("ended", `${label} ended`);
      }
    },
    onMessage: (m, payload) => {
      if (m.t === "display") setDisplay(m);
      else if (m.t === "tile") drawTile(m, payload);
      else if (m.t === "ended") {
        say("ended", `${label} ended`);
        conn.close();
      }
    },
  }, { client: `coview-childview/${VERSION}` });
  conn.connect();
}
