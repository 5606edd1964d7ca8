// The page viewer (/viewer/cobrowse?group_id=N), framed by the agent console: replays the
// visitor's page with rrweb in a frame sandboxed without scripts, under the viewer's CSP.
// The console (same origin) drives it through window.coviewViewer; the agent's clicks,
// typing and gestures come back through its onAction callback. Nothing the agent does
// changes the replay: it changes only with the visitor's events (edits.js).
import { Replayer, ReplayerEvents } from "rrweb";
import "rrweb/dist/style.css";
import { Clobbering } from "./clobbering.js";
import { Edits } from "./edits.js";
import "./viewer.css";

const stage = document.getElementById("stage");
let replayer = null;
let mode = { control: false, gesture: false };
let size = { width: 0, height: 0 };
let events = 0;
const hooked = new WeakSet();
const clobbering = new Clobbering();

function fit() {
  if (!replayer || !size.width) return;
  const scale = Math.min(1, window.innerWidth / size.width, window.innerHeight / size.height);
  replayer.wrapper.style.transform = `scale(${scale})`;
  replayer.wrapper.style.transformOrigin = "0 0";
}

function applyMode() {
  if (!replayer) return;
  if (mode.control || mode.gesture) replayer.enableInteract();
  else replayer.disableInteract();
  stage.dataset.control = String(mode.control);
  stage.dataset.gesture = String(mode.gesture);
}

function send(message) {
  if (typeof viewer.onAction === "function") viewer.onAction(message);
}

// The agent's edits: never in the replay, sent to the visitor's page under remote control.
const edits = new Edits({ mirror: () => (replayer ? replayer.getMirror() : null), send,
  control: () => mode.control });

// Listeners on the replayed document run here, in the viewer: the frame itself runs nothing.
// (rrweb rebuilds a page with document.open(), which drops a document's listeners: a new
// root element tells that the document needs them again.) The agent's own gestures are the
// trusted events: rrweb replays the visitor's mouse interactions as untrusted ones.
function hook(doc) {
  if (!doc || !doc.documentElement || hooked.has(doc.documentElement)) return;
  hooked.add(doc.documentElement);
  const idOf = (node) => replayer.getMirror().getId(node);
  let line = null;
  doc.addEventListener("mousedown", (e) => {
    if (e.isTrusted && mode.gesture) line = [[Math.round(e.pageX), Math.round(e.pageY)]];
  }, true);
  doc.addEventListener("mousemove", (e) => {
    if (e.isTrusted && mode.gesture && line && line.length < 200) {
      line.push([Math.round(e.pageX), Math.round(e.pageY)]);
    }
  }, true);
  doc.addEventListener("click", (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (!e.isTrusted) return;
    if (mode.gesture) {
      const points = line && line.length > 3 ? line : [[Math.round(e.pageX), Math.round(e.pageY)]];
      line = null;
      send({ t: "gesture", kind: points.length > 1 ? "line" : "spot", points });
    } else if (mode.control) {
      const id = idOf(e.target);
      if (id > 0) send({ t: "input", action: "click", id });
    }
  }, true);
  doc.addEventListener("submit", (e) => e.preventDefault(), true);
  edits.listen(doc);
}

function reset() {
  if (replayer) replayer.destroy();
  stage.replaceChildren();
  replayer = new Replayer([], {
    root: stage, liveMode: true, mouseTail: false, showWarning: false,
    UNSAFE_replayCanvas: false, pauseAnimation: false, triggerFocus: false,
  });
  replayer.on(ReplayerEvents.Resize, (d) => {
    size = d;
    stage.dataset.width = String(d.width);
    stage.dataset.height = String(d.height);
    fit();
  });
  replayer.on(ReplayerEvents.FullsnapshotRebuilded, () => {
    edits.reset();
    hook(replayer.iframe.contentDocument);
    stage.dataset.snapshots = String(Number(stage.dataset.snapshots || 0) + 1);
  });
  replayer.on(ReplayerEvents.EventCast, (event) => edits.cast(event));
  replayer.startLive(Date.now());
  applyMode();
}

const viewer = {
  onAction: null,
  // rrweb events, in order; timestamps re-based on this clock, as they arrive.
  add(list) {
    if (!replayer) reset();
    for (const event of list) {
      clobbering.scrub(event);
      if (event.type === 4 && event.data && event.data.href) stage.dataset.href = event.data.href;
      replayer.addEvent({ ...event, timestamp: Date.now() });
      events += 1;
    }
    stage.dataset.events = String(events);
    // rrweb applies events a moment later, and may give the frame a new document.
    setTimeout(() => hook(replayer.iframe.contentDocument), 0);
  },
  setMode(next) {
    mode = { ...mode, ...next };
    applyMode();
  },
  document() {
    return replayer && replayer.iframe ? replayer.iframe.contentDocument : null;
  },
  reset,
};
window.coviewViewer = viewer;
window.addEventListener("resize", fit);
reset();
document.dispatchEvent(new Event("coview-viewer-ready"));
