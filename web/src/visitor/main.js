// visitor.js: the cobrowse visitor library, loaded by a script tag (docs/cobrowse.md):
//   <script src="https://coview.example.com/coview/visitor.js" data-groupid="12345"></script>
// Optional: data-server (default: where this script came from), data-visitorid,
// data-visitortoken, data-ui="none" (the page draws its own UI), data-accessibility="true".
import { Visitor } from "./visitor.js";
import { InvokeVisitor, listenForInvoke } from "./invoke.js";

const script = document.currentScript;
const data = (script && script.dataset) || {};
const base = script && script.src ? script.src : location.href;
const coview = (window.COVIEW = window.COVIEW || {});
coview.Cobrowse = coview.Cobrowse || {};
coview.Cobrowse.InvokeVisitor = InvokeVisitor;

if (!data.groupid || !/^\d{1,10}$/.test(data.groupid)) {
  // eslint-disable-next-line no-console
  console.error("Coview: the visitor.js script tag needs data-groupid");
} else if (!coview.Cobrowse.Visitor) {
  const visitor = new Visitor({
    groupId: data.groupid,
    server: data.server || new URL(base).origin,
    visitorId: data.visitorid || "",
    token: data.visitortoken || "",
    ui: data.ui !== "none",
    accessibility: data.accessibility === "true",
    recordScript: new URL("visitor-record.js", base).href,
  });
  const api = {
    startSession: (args) => visitor.startSession(args),
    stopSession: () => visitor.stopSession(),
    showTerms: (args) => visitor.showTerms(args),
    pause: (paused) => visitor.pause(paused),
    setAccessibility: (enabled) => visitor.setAccessibility(enabled),
    setRemoteControl: (enabled) => visitor.setRemoteControl(enabled),
    getSessionState: () => visitor.getSessionState(),
    inSession: () => visitor.inSession(),
    addEventListener: (name, fn) => visitor.events.add(name, fn),
    removeEventListener: (name, fn) => visitor.events.remove(name, fn),
  };
  coview.Cobrowse.Visitor = api;
  listenForInvoke(api, data.groupid, () => visitor.trustedOrigins());
  const boot = () => visitor.boot();
  // Listeners added by the page's scripts right after this tag hear the first events.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else setTimeout(boot, 0);
}
